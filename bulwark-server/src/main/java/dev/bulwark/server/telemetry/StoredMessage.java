package dev.bulwark.server.telemetry;

/**
 * A device message as it is stored: {@code payload} is sealed under {@code keyId} (the data key of the device's
 * ownership period) unless {@code keyId} is null.
 *
 * @param seq the message's position in the store: unique and increasing in the order messages were committed
 */
public record StoredMessage(String tenantId, String deviceId, String kind, long seq, long receivedMs, int qos,
                            String channel, String source, String connection, String keyId, byte[] payload) {
    /** The same message at position {@code s} of the store. */
    StoredMessage withSeq(long s) {
        return new StoredMessage(tenantId, deviceId, kind, s, receivedMs, qos, channel, source, connection, keyId, payload);
    }
}
