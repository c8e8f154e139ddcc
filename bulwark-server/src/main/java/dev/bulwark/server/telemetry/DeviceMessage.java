package dev.bulwark.server.telemetry;

/**
 * One message a device sent, as it is stored.
 *
 * @param kind       {@code telemetry} or {@code events}
 * @param channel    {@code mqtt} or {@code https}
 * @param source     peer address and port
 * @param connection id of the connection (MQTT session) it arrived on
 */
public record DeviceMessage(String tenantId, String deviceId, String kind, long receivedMs, int qos, String channel,
                            String source, String connection, byte[] payload) {
}
