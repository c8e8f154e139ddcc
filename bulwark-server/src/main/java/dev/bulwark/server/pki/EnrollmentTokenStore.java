package dev.bulwark.server.pki;

import dev.bulwark.protocol.DeviceId;
import dev.bulwark.protocol.TenantId;
import dev.bulwark.server.crypto.BearerSecret;
import java.util.Optional;
import org.jdbi.v3.core.Handle;
import org.jdbi.v3.core.mapper.RowMapper;

/**
 * One-time enrollment tokens for a device's first EST enrollment: stored as SHA-256 digests, consumed by
 * the transaction that issues the certificate. Every statement but {@link #findForEnrollment} is keyed by
 * tenant; that one is the lookup by which a presented token names its tenant and device.
 */
public final class EnrollmentTokenStore {

    /** A stored token: whose it is, the digest of its secret, and whether (and for which certificate) it was used. */
    public record EnrollmentToken(String id, TenantId tenant, DeviceId device, String secretSha256, long createdMs,
                                  long expiresMs, String createdBy, Long usedMs, String usedSerial) {
    }

    private static final RowMapper<EnrollmentToken> MAPPER = (rs, ctx) -> {
        long used = rs.getLong("used_ms");
        Long usedMs = rs.wasNull() ? null : used; // read before any other column: wasNull() speaks of the last read
        return new EnrollmentToken(rs.getString("id"), TenantId.of(rs.getString("tenant_id")), DeviceId.of(rs.getString("device_id")),
                rs.getString("secret_sha256"), rs.getLong("created_ms"), rs.getLong("expires_ms"), rs.getString("created_by"),
                usedMs, rs.getString("used_serial"));
    };

    /** Stores the digest of {@code secret} as a token of {@code device}, valid for {@code ttlMs}. */
    public EnrollmentToken create(Handle h, TenantId tenant, DeviceId device, BearerSecret secret, String createdBy, long nowMs, long ttlMs) {
        h.createUpdate("INSERT INTO enrollment_tokens (id, tenant_id, device_id, secret_sha256, created_ms, expires_ms, created_by) "
                        + "VALUES (:id, :t, :d, :digest, :now, :exp, :by)")
                .bind("id", secret.id()).bind("t", tenant.value()).bind("d", device.value()).bind("digest", secret.digest())
                .bind("now", nowMs).bind("exp", nowMs + ttlMs).bind("by", createdBy).execute();
        return new EnrollmentToken(secret.id(), tenant, device, secret.digest(), nowMs, nowMs + ttlMs, createdBy, null, null);
    }

    /**
     * The token with this id, of whichever tenant: a device presenting a token is not authenticated yet, and
     * the token is what tells which tenant and device it is about. Everything after this goes by tenant.
     */
    public Optional<EnrollmentToken> findForEnrollment(Handle h, String id) {
        return h.createQuery("SELECT * FROM enrollment_tokens WHERE id = :id").bind("id", id).map(MAPPER).findOne();
    }

    /** The tenant's token, locked until the end of the transaction (two uses of one token cannot both pass). */
    public Optional<EnrollmentToken> lock(Handle h, TenantId tenant, String id) {
        return h.createQuery("SELECT * FROM enrollment_tokens WHERE tenant_id = :t AND id = :id FOR UPDATE")
                .bind("t", tenant.value()).bind("id", id).map(MAPPER).findOne();
    }

    /** Marks the tenant's unused token used for the certificate {@code serial}; false when it was already used. */
    public boolean consume(Handle h, TenantId tenant, String id, String serial, long nowMs) {
        return h.createUpdate("UPDATE enrollment_tokens SET used_ms = :now, used_serial = :serial "
                        + "WHERE tenant_id = :t AND id = :id AND used_ms IS NULL")
                .bind("now", nowMs).bind("serial", serial).bind("t", tenant.value()).bind("id", id).execute() == 1;
    }
}
