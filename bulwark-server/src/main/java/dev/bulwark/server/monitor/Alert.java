package dev.bulwark.server.monitor;

import java.util.Map;

/**
 * What the detector concluded.
 *
 * @param label    {@code retry}, {@code misconfigured-device}, {@code brute-force}, {@code enumeration},
 *                 {@code distributed-attack}, {@code cloned-device} or {@code flooding}
 * @param severity {@code info} (benign), {@code warning} or {@code critical}
 * @param subject  what it is about: an identity ({@code tenant/device}), a source address, or a tenant
 * @param evidence counts, sources, identities and the window
 * @param action   the recommended response
 */
public record Alert(String id, long timeMs, String tenantId, String label, String severity, String subject,
                    Map<String, Object> evidence, String action) {
}
