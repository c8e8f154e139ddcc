package dev.bulwark.server.pki;

import dev.bulwark.protocol.TenantId;
import dev.bulwark.server.core.Refusal;
import java.util.List;
import java.util.Optional;
import org.jdbi.v3.core.Handle;
import org.jdbi.v3.core.mapper.RowMapper;

/**
 * Tenant CAs registered with proof of possession, and the one-time challenges that prove it. Every statement
 * is keyed by tenant except the lookups by issuer subject ({@link #bySubject}), by which a presented device
 * certificate names the tenant whose CA issued it, and {@link #fingerprintRegistered}, which keeps a CA (or its
 * key) registered by one tenant only.
 */
public final class TenantCaStore {

    public record TenantCa(String id, String tenantId, String subject, String fingerprint, String keyFingerprint,
                           long notAfterMs, CaStatus status, long createdMs, String pem) {
    }

    private static final RowMapper<TenantCa> MAPPER = (rs, ctx) -> new TenantCa(rs.getString("id"), rs.getString("tenant_id"),
            rs.getString("subject"), rs.getString("fingerprint"), rs.getString("key_fingerprint"), rs.getLong("not_after_ms"),
            CaStatus.fromWire(rs.getString("status")), rs.getLong("created_ms"), rs.getString("pem"));

    public void createChallenge(Handle h, TenantId tenant, String challenge, long nowMs, long expiresMs) {
        h.createUpdate("INSERT INTO ca_challenges (challenge, tenant_id, created_ms, expires_ms) VALUES (:c, :t, :now, :exp)")
                .bind("c", challenge).bind("t", tenant.value()).bind("now", nowMs).bind("exp", expiresMs).execute();
    }

    /**
     * Consumes a challenge of this tenant: it must exist, be unexpired and unused. A challenge issued to
     * another tenant is treated as absent.
     */
    public void consumeChallenge(Handle h, TenantId tenant, String challenge, long nowMs) {
        int n = h.createUpdate("UPDATE ca_challenges SET used_ms = :now WHERE challenge = :c AND tenant_id = :t "
                        + "AND used_ms IS NULL AND expires_ms > :now")
                .bind("now", nowMs).bind("c", challenge).bind("t", tenant.value()).execute();
        if (n != 1) {
            throw Refusal.invalid("the verification certificate's CN is not an open challenge of this tenant "
                    + "(request one with POST /api/v1/cas/challenges; challenges are single-use and expire after one hour)");
        }
    }

    public void insert(Handle h, TenantCa ca) {
        h.createUpdate("INSERT INTO tenant_cas (id, tenant_id, subject, fingerprint, key_fingerprint, not_after_ms, status, created_ms, pem) "
                        + "VALUES (:id, :t, :subject, :fp, :kfp, :na, :status, :now, :pem)")
                .bind("status", ca.status().wireName()).bind("id", ca.id()).bind("t", ca.tenantId()).bind("subject", ca.subject()).bind("fp", ca.fingerprint())
                .bind("kfp", ca.keyFingerprint()).bind("na", ca.notAfterMs()).bind("now", ca.createdMs()).bind("pem", ca.pem())
                .execute();
    }

    public boolean fingerprintRegistered(Handle h, String fingerprint, String keyFingerprint) {
        return h.createQuery("SELECT COUNT(*) FROM tenant_cas WHERE fingerprint = :fp OR (key_fingerprint = :kfp AND status = :active)")
                .bind("active", CaStatus.ACTIVE.wireName()).bind("fp", fingerprint).bind("kfp", keyFingerprint).mapTo(Long.class).one() > 0;
    }

    public List<TenantCa> list(Handle h, TenantId tenant) {
        return h.createQuery("SELECT * FROM tenant_cas WHERE tenant_id = :t ORDER BY created_ms, id")
                .bind("t", tenant.value()).map(MAPPER).list();
    }

    public List<TenantCa> active(Handle h, TenantId tenant) {
        return h.createQuery("SELECT * FROM tenant_cas WHERE tenant_id = :t AND status = :active ORDER BY created_ms, id")
                .bind("t", tenant.value()).bind("active", CaStatus.ACTIVE.wireName()).map(MAPPER).list();
    }

    /**
     * The CAs of every tenant, active or revoked, whose subject is {@code subject} (a device certificate's issuer):
     * the lookup that tells which tenant's CA issued a presented certificate; the caller checks the signature.
     */
    public List<TenantCa> bySubject(Handle h, String subject) {
        return h.createQuery("SELECT * FROM tenant_cas WHERE subject = :s ORDER BY created_ms, id").bind("s", subject).map(MAPPER).list();
    }

    public Optional<TenantCa> find(Handle h, TenantId tenant, String id) {
        return h.createQuery("SELECT * FROM tenant_cas WHERE tenant_id = :t AND id = :id")
                .bind("t", tenant.value()).bind("id", id).map(MAPPER).findOne();
    }

    public boolean revoke(Handle h, TenantId tenant, String id, long nowMs) {
        return h.createUpdate("UPDATE tenant_cas SET status = :revoked, revoked_ms = :now WHERE tenant_id = :t AND id = :id AND status = :active")
                .bind("revoked", CaStatus.REVOKED.wireName()).bind("active", CaStatus.ACTIVE.wireName()).bind("now", nowMs).bind("t", tenant.value()).bind("id", id).execute() == 1;
    }
}
