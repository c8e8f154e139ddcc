package dev.bulwark.server.device;

import dev.bulwark.protocol.DeviceId;
import dev.bulwark.protocol.TenantId;
import dev.bulwark.server.core.Refusal;
import dev.bulwark.server.crypto.BearerSecret;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
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

    /** A live session to check: its device and the credential it authenticated with ({@link DevicePrincipal#credential()}). */
    public record SessionKey(TenantId tenant, DeviceId device, String credential) {
        public static SessionKey of(DevicePrincipal p) {
            return new SessionKey(p.tenant(), p.device(), p.credential());
        }
    }

    /** The most keys one {@link #refusedNow} query checks; a longer list takes one query per this many keys. */
    public static final int KEYS_PER_QUERY = 1000;

    /**
     * Of {@code keys}, those whose CONNECT the authenticator would refuse now, each with its reason code (the
     * authenticator's: {@code device-unknown} for a deleted device, {@code device-quarantined}, {@code device-disabled},
     * {@code ca-revoked}, {@code ca-expired}, {@code certificate-revoked}, {@code certificate-expired},
     * {@code certificate-unregistered}, {@code token-revoked}, {@code token-expired}, {@code token-unknown}; see
     * {@link Standing#refusal}). One query per {@link #KEYS_PER_QUERY} keys, whatever the tenants; the rest pass.
     */
    public Map<SessionKey, String> refusedNow(Handle h, List<SessionKey> keys, long nowMs) {
        Map<SessionKey, String> refused = new LinkedHashMap<>();
        for (int from = 0; from < keys.size(); from += KEYS_PER_QUERY) {
            List<SessionKey> batch = keys.subList(from, Math.min(keys.size(), from + KEYS_PER_QUERY));
            for (Standing s : standing(h, batch)) {
                s.refusal(nowMs).ifPresent(reason -> refused.put(s.key(), reason));
            }
        }
        return refused;
    }

    /**
     * What the registry holds now about a session's device and credential: the device's status (null: no such
     * device), and for a certificate ({@code certificate:<ca>/<serial>}) its record and, for a tenant CA's, the
     * CA's; for a token ({@code token:<id>}) the token of that device. Absent rows are nulls.
     */
    public record Standing(SessionKey key, DeviceStatus device, boolean certificateCredential, boolean platformCa,
                           CertificateStatus certificate, String certificateCa, long certNotBeforeMs, long certNotAfterMs,
                           String caStatus, long caNotAfterMs, boolean tokenFound, Long tokenRevokedMs, long tokenExpiresMs) {

        /**
         * The authenticator's rules at CONNECT ({@link DeviceAuthenticator}), applied to a session already open: the
         * device first (so that a quarantine that also revoked its credentials reads as the quarantine), then the
         * tenant CA, then the certificate or token. A credential of another kind is judged by its device only.
         */
        public Optional<String> refusal(long nowMs) {
            if (device == null || device == DeviceStatus.DELETED) {
                return Optional.of("device-unknown");
            }
            if (device != DeviceStatus.ACTIVE) {
                return Optional.of("device-" + device.wireName());
            }
            if (certificateCredential) {
                if (!platformCa) {
                    if (caStatus == null) {
                        return Optional.of("certificate-untrusted");
                    }
                    if (!dev.bulwark.server.pki.CaStatus.ACTIVE.wireName().equals(caStatus)) {
                        return Optional.of("ca-revoked");
                    }
                    if (caNotAfterMs < nowMs) {
                        return Optional.of("ca-expired");
                    }
                }
                if (certificate == null || !caOf(key.credential()).equals(certificateCa)) {
                    return Optional.of("certificate-unregistered");
                }
                if (certNotAfterMs < nowMs) {
                    return Optional.of("certificate-expired");
                }
                if (certNotBeforeMs > nowMs) {
                    return Optional.of("certificate-not-yet-valid");
                }
                if (certificate != CertificateStatus.ACTIVE) {
                    return Optional.of("certificate-revoked");
                }
            } else if (key.credential().startsWith(TOKEN_PREFIX)) {
                if (!tokenFound) {
                    return Optional.of("token-unknown");
                }
                if (tokenRevokedMs != null) {
                    return Optional.of("token-revoked");
                }
                if (tokenExpiresMs <= nowMs) {
                    return Optional.of("token-expired");
                }
            }
            return Optional.empty();
        }
    }

    private static final String CERTIFICATE_PREFIX = "certificate:";
    private static final String TOKEN_PREFIX = "token:";

    private static String caOf(String credential) {
        int slash = credential.indexOf('/');
        return credential.startsWith(CERTIFICATE_PREFIX) && slash > CERTIFICATE_PREFIX.length()
                ? credential.substring(CERTIFICATE_PREFIX.length(), slash) : "";
    }

    private static String serialOf(String credential) {
        int slash = credential.indexOf('/');
        return credential.startsWith(CERTIFICATE_PREFIX) && slash > 0 ? credential.substring(slash + 1) : "";
    }

    private static String tokenOf(String credential) {
        return credential.startsWith(TOKEN_PREFIX) ? credential.substring(TOKEN_PREFIX.length()) : "";
    }

    /** The {@link Standing} of each key, in one query (at most {@link #KEYS_PER_QUERY} keys). */
    public List<Standing> standing(Handle h, List<SessionKey> keys) {
        if (keys.isEmpty()) {
            return List.of();
        }
        if (keys.size() > KEYS_PER_QUERY) {
            throw new IllegalArgumentException("at most " + KEYS_PER_QUERY + " keys per query");
        }
        int n = keys.size();
        List<Integer> index = new ArrayList<>(n);
        List<String> tenants = new ArrayList<>(n);
        List<String> devices = new ArrayList<>(n);
        List<String> serials = new ArrayList<>(n);
        List<String> cas = new ArrayList<>(n);
        List<String> tokens = new ArrayList<>(n);
        for (int i = 0; i < n; i++) {
            SessionKey k = keys.get(i);
            index.add(i);
            tenants.add(k.tenant().value());
            devices.add(k.device().value());
            serials.add(serialOf(k.credential()));
            cas.add(caOf(k.credential()));
            tokens.add(tokenOf(k.credential()));
        }
        // the keys as arrays, one per column: one statement text whatever the number of keys
        var q = h.createQuery("SELECT k.i, d.status AS device_status, c.status AS cert_status, c.ca_id AS cert_ca, "
                        + "c.not_before_ms, c.not_after_ms, ca.status AS ca_status, ca.not_after_ms AS ca_not_after, tk.id AS token_id, "
                        + "tk.revoked_ms AS token_revoked, tk.expires_ms AS token_expires "
                        + "FROM UNNEST(CAST(:i AS INT ARRAY), CAST(:t AS VARCHAR(32) ARRAY), CAST(:d AS VARCHAR(64) ARRAY), "
                        + "CAST(:serial AS VARCHAR(64) ARRAY), CAST(:ca AS VARCHAR(40) ARRAY), CAST(:tok AS VARCHAR(16) ARRAY)) "
                        + "AS k (i, t, d, serial, ca, tok) "
                        + "LEFT JOIN devices d ON d.tenant_id = k.t AND d.id = k.d "
                        + "LEFT JOIN device_certificates c ON c.tenant_id = k.t AND c.device_id = k.d AND c.serial = k.serial "
                        + "LEFT JOIN tenant_cas ca ON ca.id = k.ca "
                        + "LEFT JOIN device_tokens tk ON tk.id = k.tok AND tk.tenant_id = k.t AND tk.device_id = k.d")
                .bindArray("i", Integer.class, index).bindArray("t", String.class, tenants).bindArray("d", String.class, devices)
                .bindArray("serial", String.class, serials).bindArray("ca", String.class, cas).bindArray("tok", String.class, tokens);
        List<Standing> out = new ArrayList<>(keys.size());
        q.map((rs, ctx) -> {
            SessionKey k = keys.get(rs.getInt("i"));
            String credential = k.credential();
            String device = rs.getString("device_status");
            String cert = rs.getString("cert_status");
            long tokenRevoked = rs.getLong("token_revoked");
            Long revokedMs = rs.wasNull() ? null : tokenRevoked;
            return new Standing(k, device == null ? null : DeviceStatus.fromWire(device), credential.startsWith(CERTIFICATE_PREFIX),
                    dev.bulwark.server.pki.PlatformPki.PLATFORM_CA_ID.equals(caOf(credential)),
                    cert == null ? null : CertificateStatus.fromWire(cert), rs.getString("cert_ca"), rs.getLong("not_before_ms"),
                    rs.getLong("not_after_ms"), rs.getString("ca_status"), rs.getLong("ca_not_after"), rs.getString("token_id") != null,
                    revokedMs, rs.getLong("token_expires"));
        }).forEach(out::add);
        return out;
    }
}
