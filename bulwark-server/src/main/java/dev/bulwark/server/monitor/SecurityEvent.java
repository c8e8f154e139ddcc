package dev.bulwark.server.monitor;

/**
 * One refusal or notable security occurrence.
 *
 * @param timeMs        when it happened
 * @param tenantId      the tenant concerned, when known
 * @param type          stable type, e.g. {@code api-authentication-failed}
 * @param reason        why, e.g. {@code token-expired}; never a secret
 * @param identity      the identity claimed or used (a token id, device id, operator), when known
 * @param sourceAddress the peer's IP address
 * @param sourcePort    the peer's port
 * @param channel       where it happened: {@code api}, {@code mqtt}, {@code est}, {@code device-https}
 * @param detail        short extra context, e.g. the route
 */
public record SecurityEvent(long timeMs, String tenantId, String type, String reason, String identity,
                            String sourceAddress, int sourcePort, String channel, String detail) {
}
