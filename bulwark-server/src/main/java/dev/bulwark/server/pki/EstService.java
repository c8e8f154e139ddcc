package dev.bulwark.server.pki;

import dev.bulwark.protocol.DeviceId;
import dev.bulwark.protocol.InvalidIdException;
import dev.bulwark.protocol.TenantId;
import dev.bulwark.server.Refusal;
import dev.bulwark.server.Services;
import dev.bulwark.server.audit.AuditEntry;
import dev.bulwark.server.crypto.BearerSecret;
import dev.bulwark.server.device.CredentialStore;
import dev.bulwark.server.device.DeviceAuthenticator;
import dev.bulwark.server.device.DevicePrincipal;
import dev.bulwark.server.device.DeviceStatus;
import dev.bulwark.server.identity.AuthOutcome;
import java.security.cert.X509Certificate;
import java.time.Duration;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import org.bouncycastle.asn1.x500.X500Name;
import org.bouncycastle.pkcs.PKCS10CertificationRequest;
import org.jdbi.v3.core.Handle;

/**
 * Certificate enrollment over EST (RFC 7030): the decisions, independent of HTTP.
 *
 * <ul>
 *   <li><b>First enrollment</b> ({@code simpleenroll}) is authorized either by a one-time enrollment token
 *       ({@code bwe.<id>.<secret>}, created over REST, stored hashed, valid minutes to days, consumed in the
 *       transaction that issues the certificate) or by a factory certificate presented in the TLS handshake
 *       that chains to a tenant CA registered with proof of possession, naming a registered device.</li>
 *   <li><b>Re-enrollment</b> ({@code simplereenroll}) is authorized by the device's current certificate over
 *       mutual TLS, checked exactly as at MQTT CONNECT (registered, not revoked, not expired, device active).
 *       The previous certificate stays valid until it expires: revoking it before the device has stored the
 *       new one could leave a device with no usable credential.</li>
 * </ul>
 *
 * <p>In every case the CSR is checked by {@link CsrPolicy} (key type and size, its own signature, subject
 * CN = device id), the key must not belong to another device, and the subject of the issued certificate
 * is set by the server. Each issuance is appended to the audit log; each refusal is thrown as a
 * {@link Refusal} (or an {@link Unauthenticated}) for the HTTP layer to answer and record.
 */
public final class EstService {
    public static final String ENROLLMENT_KIND = "bwe";

    /** The caller could not be authenticated; the reason is a stable slug for the security event. */
    public static final class Unauthenticated extends RuntimeException {
        private final String identity;
        private final String tenantId;

        Unauthenticated(String reason, String identity, String tenantId) {
            super(reason, null, false, false);
            this.identity = identity;
            this.tenantId = tenantId;
        }

        public String reason() {
            return getMessage();
        }

        public String identity() {
            return identity;
        }

        public String tenantId() {
            return tenantId;
        }
    }

    /** An issued certificate and the device it was issued to. */
    public record Enrolled(DevicePrincipal device, X509Certificate certificate, String serial) {
    }

    private record TokenRow(String tenantId, String deviceId, String digest, long expiresMs, Long usedMs, String usedSerial) {
    }

    private final Services s;
    private final DeviceAuthenticator authenticator;

    public EstService(Services s, DeviceAuthenticator authenticator) {
        this.s = s;
        this.authenticator = authenticator;
    }

    /** Creates a one-time enrollment token in the caller's transaction; returns the secret to show once. */
    public static BearerSecret createToken(Handle h, TenantId tenant, DeviceId device, String createdBy, long nowMs, long ttlMs) {
        BearerSecret secret = BearerSecret.generate(ENROLLMENT_KIND);
        h.createUpdate("INSERT INTO enrollment_tokens (id, tenant_id, device_id, secret_sha256, created_ms, expires_ms, created_by) "
                        + "VALUES (:id, :t, :d, :digest, :now, :exp, :by)")
                .bind("id", secret.id()).bind("t", tenant.value()).bind("d", device.value()).bind("digest", secret.digest())
                .bind("now", nowMs).bind("exp", nowMs + ttlMs).bind("by", createdBy).execute();
        return secret;
    }

    /** {@code simpleenroll} authorized by a one-time enrollment token. */
    public Enrolled enrollWithToken(String presentedToken, byte[] csrDer, String source) {
        Optional<BearerSecret> token = BearerSecret.parse(ENROLLMENT_KIND, presentedToken);
        if (token.isEmpty()) {
            throw new Unauthenticated("enrollment-token-malformed", null, null);
        }
        String id = token.get().id();
        long now = s.clock().nowMs();
        TokenRow row = s.db().read(h -> tokenRow(h, id, false)).orElse(null);
        String identity = row == null ? "enrollment-token:" + id : "device:" + row.tenantId() + "/" + row.deviceId() + " enrollment-token:" + id;
        boolean retry = row != null && row.usedMs() != null && row.usedSerial() != null && row.expiresMs() > now
                && token.get().matches(row.digest());
        if (!retry) {
            checkToken(token.get(), row, identity, now);
        }
        TenantId tenant = TenantId.of(row.tenantId());
        DeviceId device = DeviceId.of(row.deviceId());
        CsrPolicy.AcceptedCsr csr = CsrPolicy.check(CsrPolicy.fromDer(csrDer), tenant, device);
        if (retry) {
            return s.db().tx(h -> answerAgain(h, tenant, device, row, csr, identity, now, source, id));
        }
        return s.db().tx(h -> {
            // Re-read under a row lock: two concurrent uses of one token cannot both pass.
            TokenRow locked = tokenRow(h, id, true).orElse(null);
            checkToken(token.get(), locked, identity, now);
            Enrolled e = issue(h, tenant, device, csr, now, "enrollment-token:" + id);
            int consumed = h.createUpdate("UPDATE enrollment_tokens SET used_ms = :now, used_serial = :serial WHERE id = :id AND used_ms IS NULL")
                    .bind("now", now).bind("serial", e.serial()).bind("id", id).execute();
            if (consumed != 1) {
                throw new Unauthenticated("enrollment-token-used", identity, row.tenantId()); // rolls the issuance back
            }
            audit(h, e, "device.certificate.enroll", source, "EST simpleenroll with enrollment token " + id + ", " + csr.keyDescription());
            return e;
        });
    }

    /**
     * A device that lost the answer to its enrollment asks again with the same token and a CSR of the same key:
     * it gets the certificate it was issued again (nothing new is issued). The CSR is signed by the key, so only
     * the holder of that key can ask; any other use of a used token is refused as {@code enrollment-token-used}.
     */
    private Enrolled answerAgain(Handle h, TenantId tenant, DeviceId device, TokenRow row, CsrPolicy.AcceptedCsr csr, String identity,
                                 long now, String source, String tokenId) {
        var d = s.devices().lock(h, tenant, device);
        if (d.status() != DeviceStatus.ACTIVE) {
            throw new Unauthenticated("device-" + d.status().wireName(), identity, tenant.value());
        }
        var issued = s.credentials().certificate(h, tenant, device, row.usedSerial()).orElse(null);
        if (issued == null || !"active".equals(issued.status()) || issued.notAfterMs() <= now
                || !csr.keyFingerprint().equals(issued.keyFingerprint())) {
            throw new Unauthenticated("enrollment-token-used", identity, row.tenantId());
        }
        Enrolled e = new Enrolled(new DevicePrincipal(tenant, device, "enrollment-token:" + tokenId), Pem.certificate(issued.pem()),
                issued.serial());
        audit(h, e, "device.certificate.enroll-again", source, "EST simpleenroll repeated with enrollment token " + tokenId
                + " and the same key: the issued certificate is answered again");
        return e;
    }

    /** {@code simpleenroll} authorized by a factory certificate from a registered tenant CA. */
    public Enrolled enrollWithFactoryCertificate(X509Certificate[] chain, byte[] csrDer, String source) {
        X509Certificate leaf = chain[0];
        String claimed = "certificate subject=" + leaf.getSubjectX500Principal().getName() + " serial=" + PlatformPki.serialHex(leaf);
        long now = s.clock().nowMs();
        if (DeviceAuthenticator.signedBy(leaf, s.pki().caCertificate())) {
            throw new Unauthenticated("platform-certificate-on-simpleenroll", claimed, null);
        }
        String cn = singleCn(leaf);
        DeviceId device;
        try {
            device = DeviceId.of(cn == null ? "" : cn);
        } catch (InvalidIdException e) {
            throw new Unauthenticated("factory-certificate-subject-invalid", claimed, null);
        }
        record Issuer(String caId, TenantId tenant) {
        }
        Issuer issuer = s.db().read(h -> {
            List<Map<String, Object>> cas = h.createQuery("SELECT id, tenant_id, pem FROM tenant_cas WHERE subject = :s AND status = 'active'")
                    .bind("s", leaf.getIssuerX500Principal().getName()).mapToMap().list();
            for (Map<String, Object> ca : cas) {
                X509Certificate caCert = Pem.certificate((String) ca.get("pem"));
                if (caCert != null && DeviceAuthenticator.signedBy(leaf, caCert)) {
                    TenantId tenant = TenantId.of((String) ca.get("tenant_id"));
                    var outside = TenantCaPolicy.outsideValidity(caCert, now);
                    if (outside.isPresent()) {
                        throw new Unauthenticated(outside.get(), claimed + " ca:" + ca.get("id"), tenant.value());
                    }
                    try {
                        // the same checks as registering a factory certificate over REST: no CA, acceptable key, valid, CN = device
                        TenantCaPolicy.checkFactoryCertificate(leaf, List.of(caCert), device, now);
                    } catch (Refusal r) {
                        throw new Unauthenticated("factory-certificate-refused", claimed + " (" + r.reason() + ")", tenant.value());
                    }
                    if (s.devices().find(h, tenant, device).isPresent()) {
                        return new Issuer((String) ca.get("id"), tenant);
                    }
                }
            }
            return null;
        });
        if (issuer == null) {
            throw new Unauthenticated("factory-certificate-untrusted", claimed, null);
        }
        String identity = "device:" + issuer.tenant() + "/" + device + " factory-certificate:" + issuer.caId() + "/" + PlatformPki.serialHex(leaf);
        if (leaf.getNotAfter().getTime() < now) {
            throw new Unauthenticated("certificate-expired", identity, issuer.tenant().value());
        }
        if (leaf.getNotBefore().getTime() > now) {
            throw new Unauthenticated("certificate-not-yet-valid", identity, issuer.tenant().value());
        }
        CsrPolicy.AcceptedCsr csr = CsrPolicy.check(CsrPolicy.fromDer(csrDer), issuer.tenant(), device);
        return s.db().tx(h -> {
            String fingerprint;
            try {
                fingerprint = dev.bulwark.server.crypto.Secrets.sha256Hex(leaf.getEncoded());
            } catch (java.security.cert.CertificateEncodingException e) {
                throw new Unauthenticated("certificate-malformed", identity, issuer.tenant().value());
            }
            var registered = s.credentials().findCertificateByFingerprint(h, fingerprint);
            if (registered.isPresent() && !"active".equals(registered.get().status())) {
                throw new Unauthenticated("certificate-revoked", identity, issuer.tenant().value());
            }
            Enrolled e = issue(h, issuer.tenant(), device, csr, now, "factory-certificate:" + issuer.caId() + "/" + PlatformPki.serialHex(leaf));
            audit(h, e, "device.certificate.enroll", source, "EST simpleenroll with a factory certificate of CA " + issuer.caId() + ", "
                    + csr.keyDescription());
            return e;
        });
    }

    /** {@code simplereenroll}: renewal (or re-key) authorized by the device's current certificate. */
    public Enrolled reenroll(X509Certificate[] chain, byte[] csrDer, String source) {
        AuthOutcome<DevicePrincipal> outcome = authenticator.byCertificate(chain);
        if (outcome instanceof AuthOutcome.Refused<DevicePrincipal> r) {
            throw new Unauthenticated(r.reason(), r.claimedIdentity(), r.tenantId());
        }
        DevicePrincipal current = ((AuthOutcome.Authenticated<DevicePrincipal>) outcome).principal();
        long now = s.clock().nowMs();
        CsrPolicy.AcceptedCsr csr = CsrPolicy.check(CsrPolicy.fromDer(csrDer), current.tenant(), current.device());
        return s.db().tx(h -> {
            Enrolled e = issue(h, current.tenant(), current.device(), csr, now, current.credential());
            audit(h, e, "device.certificate.reenroll", source, "EST simplereenroll with " + current.credential() + ", " + csr.keyDescription());
            return e;
        });
    }

    private Enrolled issue(Handle h, TenantId tenant, DeviceId device, CsrPolicy.AcceptedCsr csr, long now, String credential) {
        var d = s.devices().lock(h, tenant, device);
        if (d.status() != DeviceStatus.ACTIVE) {
            throw new Unauthenticated("device-" + d.status().wireName(), "device:" + tenant + "/" + device + " " + credential, tenant.value());
        }
        s.credentials().requireKeyNotUsedElsewhere(h, tenant, device, csr.keyFingerprint());
        Duration validity = s.config().deviceCertificateTtl();
        X509Certificate cert = s.pki().issueDeviceCertificate(csr.csr().getSubjectPublicKeyInfo(), tenant, device, now, validity);
        var r = CredentialStore.recordOf(tenant, device, PlatformPki.PLATFORM_CA_ID, cert, csr.keyFingerprint());
        s.credentials().insertCertificate(h, r, now);
        return new Enrolled(new DevicePrincipal(tenant, device, credential), cert, r.serial());
    }

    private void audit(Handle h, Enrolled e, String action, String source, String detail) {
        s.audit().append(h, new AuditEntry(e.device().tenant().value(), "device:" + e.device().device() + " " + e.device().credential(),
                action, "device:" + e.device().device() + " certificate:" + e.serial(), source, AuditEntry.SUCCESS, detail));
    }

    private static Optional<TokenRow> tokenRow(Handle h, String id, boolean lock) {
        return h.createQuery("SELECT tenant_id, device_id, secret_sha256, expires_ms, used_ms, used_serial FROM enrollment_tokens WHERE id = :id"
                        + (lock ? " FOR UPDATE" : ""))
                .bind("id", id)
                .map((rs, ctx) -> {
                    long used = rs.getLong("used_ms");
                    Long usedMs = rs.wasNull() ? null : used;
                    return new TokenRow(rs.getString("tenant_id"), rs.getString("device_id"), rs.getString("secret_sha256"),
                            rs.getLong("expires_ms"), usedMs, rs.getString("used_serial"));
                }).findOne();
    }

    private static void checkToken(BearerSecret presented, TokenRow row, String identity, long now) {
        if (row == null) {
            throw new Unauthenticated("enrollment-token-unknown", identity, null);
        }
        if (!presented.matches(row.digest())) {
            throw new Unauthenticated("enrollment-token-wrong-secret", identity, row.tenantId());
        }
        if (row.usedMs() != null) {
            throw new Unauthenticated("enrollment-token-used", identity, row.tenantId());
        }
        if (row.expiresMs() <= now) {
            throw new Unauthenticated("enrollment-token-expired", identity, row.tenantId());
        }
    }

    private static String singleCn(X509Certificate c) {
        try {
            return CsrPolicy.singleCn(X500Name.getInstance(c.getSubjectX500Principal().getEncoded()));
        } catch (RuntimeException malformed) {
            return null;
        }
    }
}
