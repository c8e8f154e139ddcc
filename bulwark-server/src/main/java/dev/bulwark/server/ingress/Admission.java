package dev.bulwark.server.ingress;

/** What {@link IngressGate} decided about one device message. */
public sealed interface Admission {

    /** Committed (and, on the control plane, applied): the transport may acknowledge it. */
    record Admitted(Route route) implements Admission {
    }

    /**
     * Not admitted, and nothing stored for it (for {@link Reason#NOT_STORED}: nothing acknowledged, the device sends
     * it again).
     *
     * @param detail safe to show to the device and to record: names what was wrong, never a secret or another
     *               device's data
     */
    record Refused(Reason reason, String detail) implements Admission {
    }

    /** Why a message was refused; each transport maps it to its own code (MQTT 5 reason code, HTTP status). */
    enum Reason {
        /** A {@code +} or {@code #} in the topic name. */
        WILDCARD_TOPIC(true),
        /** Empty, another device's, a downstream topic, or no topic of the protocol. */
        FORBIDDEN_TOPIC(true),
        /** The retain flag: devices never leave messages behind. */
        RETAINED(true),
        /** QoS 2. */
        UNSUPPORTED_QOS(true),
        /** Larger than the payload limit (or, on the control plane, than a reported configuration may be). */
        PAYLOAD_TOO_LARGE(true),
        /** Not the shape its route needs (the control plane takes a JSON object). */
        PAYLOAD_INVALID(true),
        /** The device's own message rate. */
        DEVICE_RATE(false),
        /** The tenant's message rate over all its devices. */
        TENANT_QUOTA(false),
        /** The group-commit writer stayed full for as long as the transport waits: send it again later. */
        WRITER_SATURATED(false),
        /** The batch failed (or the control plane could not apply it): nothing acknowledged, send it again. */
        NOT_STORED(false);

        private final boolean ofTheMessage;

        Reason(boolean ofTheMessage) {
            this.ofTheMessage = ofTheMessage;
        }

        /**
         * True when the refusal follows from the message alone (topic, flags, payload), so that it can be decided
         * before the message is sent: a Will is checked for these at CONNECT.
         */
        public boolean ofTheMessage() {
            return ofTheMessage;
        }
    }
}
