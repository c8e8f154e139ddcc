package dev.bulwark.server.audit;

import java.util.Objects;

/**
 * One operator action as it is appended to the audit log.
 *
 * @param tenantId the tenant acted in, or null for platform-level actions
 * @param actor    who acted (operator, tenant and token id)
 * @param action   what was done, e.g. {@code device.create}
 * @param target   the object acted on, e.g. {@code device:thermo-0001}
 * @param source   the caller's address and port
 * @param outcome  {@code success}, {@code denied} (authorization) or {@code refused} (invalid request)
 * @param detail   a short reason or summary; never a secret
 */
public record AuditEntry(String tenantId, String actor, String action, String target, String source,
                         String outcome, String detail) {
    public static final String SUCCESS = "success";
    public static final String DENIED = "denied";
    public static final String REFUSED = "refused";

    public AuditEntry {
        Objects.requireNonNull(actor);
        Objects.requireNonNull(action);
        target = target == null ? "" : truncate(target, 400);
        source = source == null ? "" : truncate(source, 100);
        Objects.requireNonNull(outcome);
        detail = detail == null ? "" : truncate(detail, 1000);
    }

    private static String truncate(String s, int max) {
        return s.length() <= max ? s : s.substring(0, max);
    }
}
