package dev.bulwark.server.monitor;

/**
 * One device authentication as the detector sees it (published on the bus, not stored).
 *
 * @param identity   who the caller claimed to be, normalized: {@code tenant/device} when that is known,
 *                   otherwise what was claimed (a user name, a certificate subject)
 * @param credential a short fingerprint telling different presented secrets apart (a keyed digest of a
 *                   token, a certificate's fingerprint); never the secret
 * @param reason     the refusal reason, or {@code ok}
 */
public record AuthAttempt(long timeMs, String tenantId, String identity, String credential, String sourceAddress, int sourcePort,
                          String channel, boolean success, String reason) {
}
