package dev.bulwark.server.device;

import dev.bulwark.protocol.DeviceId;
import dev.bulwark.protocol.TenantId;
import dev.bulwark.server.core.Refusal;
import dev.bulwark.server.crypto.BearerSecret;
import java.util.List;
import java.util.Optional;
import org.jdbi.v3.core.Handle;
import org.jdbi.v3.core.mapper.RowMapper;

/**
 * Device credentials: X.509 certificates (issued from CSRs or registered factory certificates) and
 * server-generated bearer tokens. There is deliberately no way to store a credential chosen by an
 * operator: tokens are generated here, and certificates only bind keys whose owner proved possession.
 */
public final class CredentialStore {

    public record CertificateRecord(String tenantId, String deviceId, String serial, String caId, String fingerprint,
                                    String keyFingerprint, String subject, long notBeforeMs, long notAfterMs,
                                    CertificateStatus status, Long revokedMs, String revokeReason, String pem) {
    }

    /** The record of a certificate issued by or registered for {@code device}. */
    public static CertificateRecord recordOf(TenantId tenant, DeviceId id, String caId, java.security.cert.X509Certificate cert,
                                             String keyFingerprint) {
        try {
            return new CertificateRecord(tenant.value(), id.value(), dev.bulwark.server.pki.PlatformPki.serialHex(cert), caId,
                    dev.bulwark.server.crypto.Secrets.sha256Hex(cert.getEncoded()), keyFingerprint, cert.getSubjectX500Principal().getName(),
                    cert.getNotBefore().getTime(), cert.getNotAfter().getTime(), CertificateStatus.ACTIVE, null, null,
                    dev.bulwark.server.pki.Pem.encode(cert));
        } catch (java.security.cert.CertificateEncodingException e) {
            throw Refusal.invalid("certificate cannot be encoded");
        }
    }

    public record TokenRecord(String id, String tenantId, String deviceId, long createdMs, long expiresMs, Long revokedMs) {
    }

    /** A device token with the SHA-256 digest of its secret, for the authenticator to compare (never the secret itself). */
    public record TokenWithDigest(TokenRecord token, String secretSha256) {
    }

    private static final RowMapper<CertificateRecord> CERT = (rs, ctx) -> {
        long revoked = rs.getLong("revoked_ms");
        Long revokedMs = rs.wasNull() ? null : revoked;
        return new CertificateRecord(rs.getString("tenant_id"), rs.getString("device_id"), rs.getString("serial"),
                rs.getString("ca_id"), rs.getString("fingerprint"), rs.getString("key_fingerprint"), rs.getString("subject"),
                rs.getLong("not_before_ms"), rs.getLong("not_after_ms"), CertificateStatus.fromWire(rs.getString("status")), revokedMs,
                rs.getString("revoke_reason"), rs.getString("pem"));
    };

    private static final RowMapper<TokenRecord> TOKEN = (rs, ctx) -> {
        long revoked = rs.getLong("revoked_ms");
        Long revokedMs = rs.wasNull() ? null : revoked;
        return new TokenRecord(rs.getString("id"), rs.getString("tenant_id"), rs.getString("device_id"),
                rs.getLong("created_ms"), rs.getLong("expires_ms"), revokedMs);
    };

    /**
     * Refuses a key that already belongs to a different device (of any tenant): two devices sharing a key
     * pair are clones, and neither could be told apart from the other.
     */
    public void requireKeyNotUsedElsewhere(Handle h, TenantId tenant, DeviceId device, String keyFingerprint) {
        boolean elsewhere = h.createQuery("SELECT COUNT(*) FROM device_certificates WHERE key_fingerprint = :k "
                        + "AND NOT (tenant_id = :t AND device_id = :d)")
                .bind("k", keyFingerprint).bind("t", tenant.value()).bind("d", device.value())
                .mapTo(Long.class).one() > 0;
        if (elsewhere) {
            throw Refusal.conflict("this public key is already bound to another device; every device needs its own key pair");
        }
    }

    public void insertCertificate(Handle h, CertificateRecord c, long nowMs) {
        h.createUpdate("INSERT INTO device_certificates (tenant_id, device_id, serial, ca_id, fingerprint, key_fingerprint, subject, "
                        + "not_before_ms, not_after_ms, status, created_ms, pem) VALUES (:t, :d, :serial, :ca, :fp, :kfp, :subject, :nb, :na, :status, :now, :pem)")
                .bind("status", c.status().wireName()).bind("t", c.tenantId()).bind("d", c.deviceId()).bind("serial", c.serial()).bind("ca", c.caId())
                .bind("fp", c.fingerprint()).bind("kfp", c.keyFingerprint()).bind("subject", c.subject())
                .bind("nb", c.notBeforeMs()).bind("na", c.notAfterMs()).bind("now", nowMs).bind("pem", c.pem()).execute();
    }

    /**
     * The certificate with this SHA-256 fingerprint, of whichever tenant registered it: the lookup that tells an
     * authenticator which tenant and device a presented certificate belongs to (the tenant is not known before).
     */
    public Optional<CertificateRecord> findCertificateByFingerprint(Handle h, String fingerprint) {
        return h.createQuery("SELECT * FROM device_certificates WHERE fingerprint = :fp").bind("fp", fingerprint).map(CERT).findOne();
    }

    public List<CertificateRecord> certificates(Handle h, TenantId tenant, DeviceId device) {
        return h.createQuery("SELECT * FROM device_certificates WHERE tenant_id = :t AND device_id = :d ORDER BY created_ms, serial")
                .bind("t", tenant.value()).bind("d", device.value()).map(CERT).list();
    }

    public Optional<CertificateRecord> certificate(Handle h, TenantId tenant, DeviceId device, String serial) {
        return h.createQuery("SELECT * FROM device_certificates WHERE tenant_id = :t AND device_id = :d AND serial = :s")
                .bind("t", tenant.value()).bind("d", device.value()).bind("s", serial).map(CERT).findOne();
    }

    /** Revokes one certificate; false when it was already revoked. */
    public boolean revokeCertificate(Handle h, TenantId tenant, DeviceId device, String serial, String reason, long nowMs) {
        return h.createUpdate("UPDATE device_certificates SET status = :revoked, revoked_ms = :now, revoke_reason = :r "
                        + "WHERE tenant_id = :t AND device_id = :d AND serial = :s AND status = :active")
                .bind("revoked", CertificateStatus.REVOKED.wireName()).bind("active", CertificateStatus.ACTIVE.wireName()).bind("now", nowMs).bind("r", reason).bind("t", tenant.value()).bind("d", device.value()).bind("s", serial)
                .execute() == 1;
    }

    /** Revokes every credential of a device (on delete); returns how many were revoked. */
    public int revokeAll(Handle h, TenantId tenant, DeviceId device, String reason, long nowMs) {
        int certs = h.createUpdate("UPDATE device_certificates SET status = :revoked, revoked_ms = :now, revoke_reason = :r "
                        + "WHERE tenant_id = :t AND device_id = :d AND status = :active")
                .bind("revoked", CertificateStatus.REVOKED.wireName()).bind("active", CertificateStatus.ACTIVE.wireName()).bind("now", nowMs).bind("r", reason).bind("t", tenant.value()).bind("d", device.value()).execute();
        int tokens = h.createUpdate("UPDATE device_tokens SET revoked_ms = :now WHERE tenant_id = :t AND device_id = :d AND revoked_ms IS NULL")
                .bind("now", nowMs).bind("t", tenant.value()).bind("d", device.value()).execute();
        return certs + tokens;
    }

    public TokenRecord issueToken(Handle h, TenantId tenant, DeviceId device, BearerSecret secret, long nowMs, long ttlMs) {
        h.createUpdate("INSERT INTO device_tokens (id, tenant_id, device_id, secret_sha256, created_ms, expires_ms) "
                        + "VALUES (:id, :t, :d, :digest, :now, :exp)")
                .bind("id", secret.id()).bind("t", tenant.value()).bind("d", device.value()).bind("digest", secret.digest())
                .bind("now", nowMs).bind("exp", nowMs + ttlMs).execute();
        return new TokenRecord(secret.id(), tenant.value(), device.value(), nowMs, nowMs + ttlMs, null);
    }

    public List<TokenRecord> tokens(Handle h, TenantId tenant, DeviceId device) {
        return h.createQuery("SELECT * FROM device_tokens WHERE tenant_id = :t AND device_id = :d ORDER BY created_ms, id")
                .bind("t", tenant.value()).bind("d", device.value()).map(TOKEN).list();
    }

    public boolean revokeToken(Handle h, TenantId tenant, DeviceId device, String tokenId, long nowMs) {
        return h.createUpdate("UPDATE device_tokens SET revoked_ms = :now WHERE tenant_id = :t AND device_id = :d AND id = :id AND revoked_ms IS NULL")
                .bind("now", nowMs).bind("t", tenant.value()).bind("d", device.value()).bind("id", tokenId).execute() == 1;
    }

    /** The token {@code tokenId} of this device, with its digest; empty when this device of this tenant has no such token. */
    public Optional<TokenWithDigest> tokenWithDigest(Handle h, TenantId tenant, DeviceId device, String tokenId) {
        return h.createQuery("SELECT * FROM device_tokens WHERE tenant_id = :t AND device_id = :d AND id = :id")
                .bind("t", tenant.value()).bind("d", device.value()).bind("id", tokenId)
                .map((rs, ctx) -> new TokenWithDigest(TOKEN.map(rs, ctx), rs.getString("secret_sha256"))).findOne();
    }

    public Optional<TokenRecord> token(Handle h, TenantId tenant, DeviceId device, String tokenId) {
        return h.createQuery("SELECT * FROM device_tokens WHERE tenant_id = :t AND device_id = :d AND id = :id")
                .bind("t", tenant.value()).bind("d", device.value()).bind("id", tokenId).map(TOKEN).findOne();
    }
}
