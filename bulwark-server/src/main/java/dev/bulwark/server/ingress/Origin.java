package dev.bulwark.server.ingress;

import dev.bulwark.protocol.DeviceNamespace;
import dev.bulwark.server.device.DevicePrincipal;

/**
 * Who sends through the gate and how: the authenticated device (already authenticated by the transport), its
 * namespace, the path, and the peer. One per MQTT session (made once), one per HTTPS request.
 *
 * @param source     the peer's address and port as stored with each message
 * @param connection the id of the connection stored with each message
 * @param detail     the detail of the security events recorded for this origin (the HTTPS path), or null
 */
public record Origin(DevicePrincipal device, DeviceNamespace namespace, Path path, String address, int port, String source,
                     String connection, String detail) {

    /** The three ways a device message comes in. */
    public enum Path {
        MQTT_PUBLISH("mqtt", "mqtt", "mqtt-publish-refused", IngressGate.MQTT_BUSY_RETRIES),
        /**
         * The Will of an MQTT session, published when the connection ends without a DISCONNECT. Checked at CONNECT
         * for what follows from the message alone ({@link Admission.Reason#ofTheMessage()}, recorded as
         * {@code mqtt-will-refused}), and passed through the whole gate when it is published.
         */
        MQTT_WILL("mqtt-will", "mqtt", "mqtt-will-refused", IngressGate.MQTT_BUSY_RETRIES),
        /** Waits for no writer room: HTTP has its own back-pressure (503 with Retry-After). */
        DEVICE_HTTPS("https", "device-https", "device-https-publish-refused", 0);

        private final String storedChannel;
        private final String eventChannel;
        private final String topicRefusedType;
        private final int busyRetries;

        Path(String storedChannel, String eventChannel, String topicRefusedType, int busyRetries) {
            this.storedChannel = storedChannel;
            this.eventChannel = eventChannel;
            this.topicRefusedType = topicRefusedType;
            this.busyRetries = busyRetries;
        }

        /** How many times a message waits {@value IngressGate#BUSY_PAUSE_MS} ms for room in a full writer. */
        int busyRetries() {
            return busyRetries;
        }

        /** The channel stored with each message. */
        public String storedChannel() {
            return storedChannel;
        }

        /** The channel of the security events recorded on this path. */
        public String eventChannel() {
            return eventChannel;
        }

        /** The security event type of a refused topic, flag or QoS on this path. */
        String topicRefusedType() {
            return topicRefusedType;
        }

        boolean mqtt() {
            return this != DEVICE_HTTPS;
        }
    }

    public Origin {
        if (!namespace.device().equals(device.device())) {
            throw new IllegalArgumentException("the namespace of another device");
        }
    }

    public static Origin of(DevicePrincipal device, Path path, String address, int port, String connection, String detail) {
        return new Origin(device, new DeviceNamespace(device.device()), path, address, port,
                address == null ? "" : address + ":" + port, connection, detail);
    }

    /** The same sender on another path (an MQTT session's Will). */
    public Origin on(Path other) {
        return new Origin(device, namespace, other, address, port, source, connection, other == Path.MQTT_WILL ? "will" : detail);
    }
}
