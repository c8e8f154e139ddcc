package dev.bulwark.protocol;

/**
 * What {@link DeviceTopic#parse} makes of a topic name: a {@link DeviceTopic}, or {@link Refused} with the
 * reason. Never null, never an exception, whatever the input.
 */
public sealed interface TopicParse permits DeviceTopic, TopicParse.Refused {

    /** Why a topic name is not a device topic. */
    enum Problem {
        /** Null or empty. */
        EMPTY("empty topic"),
        /** Holds {@code +} or {@code #}: a filter, never a topic name. */
        WILDCARD("wildcard in a topic name"),
        /** Does not start with {@code devices/{deviceId}/}. */
        OUTSIDE_NAMESPACE("not under devices/{deviceId}/"),
        /** The device level is not a device id (see {@link IdGrammar}). */
        INVALID_DEVICE_ID("the device level is not a valid device id"),
        /** A command result whose command level is not a command id. */
        INVALID_COMMAND_ID("the command level is not a valid command id"),
        /** Under a device's namespace, but no topic of the protocol. */
        UNKNOWN_TOPIC("no such device topic");

        private final String reason;

        Problem(String reason) {
            this.reason = reason;
        }

        /** A short text, safe to show and to record. */
        public String reason() {
            return reason;
        }
    }

    /**
     * A topic name that is not a device topic.
     *
     * @param deviceLevel the text of the device level when the name starts with {@code devices/} and has one
     *                    (not necessarily a valid id), else null: a server tells "another device's topic" from
     *                    "no such topic of this device" with it
     */
    record Refused(Problem problem, String deviceLevel) implements TopicParse {
        public String reason() {
            return problem.reason();
        }
    }
}
