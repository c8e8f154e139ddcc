package dev.bulwark.protocol;

import java.util.regex.Pattern;

/**
 * One topic of the device namespace (see {@link Topics}), as a value: which device, which purpose, which
 * direction. Server and device SDK parse and build topic names with it, so both sides agree on the grammar.
 *
 * <p>{@link #parse} is total and strict: exactly the seven topic shapes, a device level that follows the device
 * id grammar, a command level of 1-64 characters of {@code A-Z a-z 0-9 _ -}; no wildcard, no empty level, no
 * trailing slash. Whether a device may use a topic (its own namespace only, in the right direction) is the
 * server's decision, not the parser's.
 */
public sealed interface DeviceTopic extends TopicParse
        permits DeviceTopic.Upstream, DeviceTopic.Downstream {

    /** The device whose namespace this topic is in. */
    DeviceId device();

    /** The topic name, e.g. {@code devices/thermo-1/telemetry}. */
    String name();

    /** Device → cloud: what a device publishes. */
    sealed interface Upstream extends DeviceTopic permits Telemetry, Events, ReportedConfig, CommandResult {
    }

    /** Cloud → device: what a device subscribes to. */
    sealed interface Downstream extends DeviceTopic permits DesiredConfig, Commands, Firmware {
    }

    /** {@code devices/{id}/telemetry}: measurements. */
    record Telemetry(DeviceId device) implements Upstream {
        @Override
        public String name() {
            return Topics.telemetry(device);
        }
    }

    /** {@code devices/{id}/events}: alarms, state changes. */
    record Events(DeviceId device) implements Upstream {
        @Override
        public String name() {
            return Topics.events(device);
        }
    }

    /** {@code devices/{id}/config/reported}: the configuration the device runs with. */
    record ReportedConfig(DeviceId device) implements Upstream {
        @Override
        public String name() {
            return Topics.configReported(device);
        }
    }

    /** {@code devices/{id}/commands/{commandId}/result}: the outcome of one command. */
    record CommandResult(DeviceId device, String commandId) implements Upstream {
        public CommandResult {
            if (commandId == null || !COMMAND_ID.matcher(commandId).matches()) {
                throw new InvalidIdException("command id", "must be 1-64 characters of A-Z, a-z, 0-9, '_' and '-'");
            }
        }

        @Override
        public String name() {
            return Topics.commandResult(device, commandId);
        }
    }

    /** {@code devices/{id}/config/desired}: the configuration the cloud wants. */
    record DesiredConfig(DeviceId device) implements Downstream {
        @Override
        public String name() {
            return Topics.configDesired(device);
        }
    }

    /** {@code devices/{id}/commands}: commands to run. */
    record Commands(DeviceId device) implements Downstream {
        @Override
        public String name() {
            return Topics.commands(device);
        }
    }

    /** {@code devices/{id}/firmware}: signed update offers. */
    record Firmware(DeviceId device) implements Downstream {
        @Override
        public String name() {
            return Topics.firmware(device);
        }
    }

    /** The grammar of a command id in a command result topic. */
    Pattern COMMAND_ID = Pattern.compile("[A-Za-z0-9_-]{1,64}");

    /** Parses a topic name; see the class comment for the grammar. */
    static TopicParse parse(String topic) {
        if (topic == null || topic.isEmpty()) {
            return new Refused(Problem.EMPTY, null);
        }
        if (topic.indexOf('+') >= 0 || topic.indexOf('#') >= 0) {
            return new Refused(Problem.WILDCARD, null);
        }
        if (!topic.startsWith(Topics.PREFIX)) {
            return new Refused(Problem.OUTSIDE_NAMESPACE, null);
        }
        int slash = topic.indexOf('/', Topics.PREFIX.length());
        if (slash < 0) {
            return new Refused(Problem.OUTSIDE_NAMESPACE, null);
        }
        String level = topic.substring(Topics.PREFIX.length(), slash);
        DeviceId device;
        try {
            device = DeviceId.of(level);
        } catch (InvalidIdException e) {
            return new Refused(Problem.INVALID_DEVICE_ID, level);
        }
        return within(device, level, topic.substring(slash + 1));
    }

    /** The topic {@code rest} (what follows {@code devices/{id}/}) of a device already parsed. */
    private static TopicParse within(DeviceId device, String level, String rest) {
        switch (rest) {
            case "telemetry":
                return new Telemetry(device);
            case "events":
                return new Events(device);
            case "config/reported":
                return new ReportedConfig(device);
            case "config/desired":
                return new DesiredConfig(device);
            case "commands":
                return new Commands(device);
            case "firmware":
                return new Firmware(device);
            default:
                break;
        }
        if (rest.startsWith("commands/") && rest.endsWith("/result") && rest.length() >= "commands/".length() + "/result".length()) {
            String id = rest.substring("commands/".length(), rest.length() - "/result".length());
            if (!COMMAND_ID.matcher(id).matches()) {
                return new Refused(Problem.INVALID_COMMAND_ID, level);
            }
            return new CommandResult(device, id);
        }
        return new Refused(Problem.UNKNOWN_TOPIC, level);
    }
}
