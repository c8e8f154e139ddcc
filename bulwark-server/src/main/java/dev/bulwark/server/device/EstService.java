package dev.bulwark.server.device;

import dev.bulwark.protocol.DeviceId;
import dev.bulwark.protocol.InvalidIdException;
import dev.bulwark.protocol.TenantId;
import dev.bulwark.server.audit.AuditEntry;
import dev.bulwark.server.audit.AuditLog;
import dev.bulwark.server.core.Clock;
import dev.bulwark.server.core.Refusal;
import dev.bulwark.server.crypto.BearerSecret;
import dev.bulwark.server.identity.AuthOutcome;
import dev.bulwark.server.pki.CaStatus;
import dev.bulwark.server.pki.CsrPolicy;
import dev.bulwark.server.pki.EnrollmentTokenStore;
import dev.bulwark.server.pki.EnrollmentTokenStore.EnrollmentToken;
import dev.bulwark.server.pki.Pem;
import dev.bulwark.server.pki.PlatformPki;
import dev.bulwark.server.pki.TenantCaPolicy;
import dev.bulwark.server.pki.TenantCaStore;
import dev.bulwark.server.store.Database;
import java.security.cert.X509Certificate;
import java.time.Duration;
import java.util.List;
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

    private final Database db;
    private final Clock clock;
    private final PlatformPki pki;
    private final Duration certificateTtl;
    private final AuditLog audit;
    private final DeviceStore devices;
    private final CredentialStore credentials;
    private final TenantCaStore tenantCas;
    private final EnrollmentTokenStore enrollmentTokens;
    private final DeviceAuthenticator authenticator;

    /** {@code certificateTtl}: the validity of the certificates it issues. */
    public EstService(Database db, Clock clock, PlatformPki pki, Duration certificateTtl, AuditLog audit, DeviceStore devices,
                      CredentialStore credentials, TenantCaStore tenantCas, EnrollmentTokenStore enrollmentTokens,
                      DeviceAuthenticator authenticator) {
        this.db = db;
        this.clock = clock;
        this.pki = pki;
        this.certificateTtl = certificateTtl;
        this.audit = audit;
        this.devices = devices;
        this.credentials = credentials;
        this.tenantCas = tenantCas;
        this.enrollmentTokens = enrollmentTokens;
        this.authenticator = authenticator;
    }

    /** A new one-time enrollment token's secret (the caller stores it with {@link EnrollmentTokenStore#create} and shows it once). */
    public static BearerSecret newEnrollmentSecret() {
        return BearerSecret.generate(ENROLLMENT_KIND);
    }

    /** {@code simpleenroll} authorized by a one-time enrollment token. */
    public Enrolled enrollWithToken(String presentedToken, byte[] csrDer, String source) {
        Optional<BearerSecret> token = BearerSecret.parse(ENROLLMENT_KIND, presentedToken);
        if (token.isEmpty()) {
            throw new Unauthenticated("enrollment-token-malformed", null, null);
        }
        String id = token.get().id();
        long now = clock.nowMs();
        EnrollmentToken row = db.read(h -> enrollmentTokens.findForEnrollment(h, id)).orElse(null);
        String identity = row == null ? "enrollment-token:" + id : "device:" + row.tenant() + "/" + row.device() + " enrollment-token:" + id;
        boolean retry = row != null && row.usedMs() != null && row.usedSerial() != null && row.expiresMs() > now
                && token.get().matches(row.secretSha256());
        if (!retry) {
            checkToken(token.get(), row, identity, now);
        }
        TenantId tenant = row.tenant();
        DeviceId device = row.device();
        CsrPolicy.AcceptedCsr csr = CsrPolicy.check(CsrPolicy.fromDer(csrDer), tenant, device);
        if (retry) {
            return db.tx(h -> answerAgain(h, tenant, device, row, csr, identity, now, source, id));
        }
        return db.tx(h -> {
            // Re-read under a row lock: two concurrent uses of one token cannot both pass.
            EnrollmentToken locked = enrollmentTokens.lock(h, tenant, id).orElse(null);
            checkToken(token.get(), locked, identity, now);
            Enrolled e = issue(h, tenant, device, csr, now, "enrollment-token:" + id);
            if (!enrollmentTokens.consume(h, tenant, id, e.serial(), now)) {
                throw new Unauthenticated("enrollment-token-used", identity, tenant.value()); // rolls the issuance back
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
    private Enrolled answerAgain(Handle h, TenantId tenant, DeviceId device, EnrollmentToken row, CsrPolicy.AcceptedCsr csr,
                                 String identity, long now, String source, String tokenId) {
        var d = devices.lock(h, tenant, device);
        if (d.status() != DeviceStatus.ACTIVE) {
            throw new Unauthenticated("device-" + d.status().wireName(), identity, tenant.value());
        }
        var issued = credentials.certificate(h, tenant, device, row.usedSerial()).orElse(null);
        if (issued == null || issued.status() != CertificateStatus.ACTIVE || issued.notAfterMs() <= now
                || !csr.keyFingerprint().equals(issued.keyFingerprint())) {
            throw new Unauthenticated("enrollment-token-used", identity, tenant.value());
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
        long now = clock.nowMs();
        if (DeviceAuthenticator.signedBy(leaf, pki.caCertificate())) {
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
        Issuer issuer = db.read(h -> {
            for (TenantCaStore.TenantCa ca : tenantCas.bySubject(h, leaf.getIssuerX500Principal().getName())) {
                if (ca.status() != CaStatus.ACTIVE) {
                    continue;
                }
                X509Certificate caCert = Pem.certificate(ca.pem());
                if (caCert != null && DeviceAuthenticator.signedBy(leaf, caCert)) {
                    TenantId tenant = TenantId.of(ca.tenantId());
                    var outside = TenantCaPolicy.outsideValidity(caCert, now);
                    if (outside.isPresent()) {
                        throw new Unauthenticated(outside.get(), claimed + " ca:" + ca.id(), tenant.value());
                    }
                    try {
                        // the same checks as registering a factory certificate over REST: no CA, acceptable key, valid, CN = device
                        TenantCaPolicy.checkFactoryCertificate(leaf, List.of(caCert), device, now);
                    } catch (Refusal r) {
                        throw new Unauthenticated("factory-certificate-refused", claimed + " (" + r.reason() + ")", tenant.value());
                    }
                    if (devices.find(h, tenant, device).isPresent()) {
                        return new Issuer(ca.id(), tenant);
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
        return db.tx(h -> {
            String fingerprint;
            try {
                fingerprint = dev.bulwark.server.crypto.Secrets.sha256Hex(leaf.getEncoded());
            } catch (java.security.cert.CertificateEncodingException e) {
                throw new Unauthenticated("certificate-malformed", identity, issuer.tenant().value());
            }
            var registered = credentials.findCertificateByFingerprint(h, fingerprint);
            if (registered.isPresent() && registered.get().status() != CertificateStatus.ACTIVE) {
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
        long now = clock.nowMs();
        CsrPolicy.AcceptedCsr csr = CsrPolicy.check(CsrPolicy.fromDer(csrDer), current.tenant(), current.device());
        return db.tx(h -> {
            Enrolled e = issue(h, current.tenant(), current.device(), csr, now, current.credential());
            audit(h, e, "device.certificate.reenroll", source, "EST simplereenroll with " + current.credential() + ", " + csr.keyDescription());
            return e;
        });
    }

    private Enrolled issue(Handle h, TenantId tenant, DeviceId device, CsrPolicy.AcceptedCsr csr, long now, String credential) {
        var d = devices.lock(h, tenant, device);
        if (d.status() != DeviceStatus.ACTIVE) {
            throw new Unauthenticated("device-" + d.status().wireName(), "device:" + tenant + "/" + device + " " + credential, tenant.value());
        }
        credentials.requireKeyNotUsedElsewhere(h, tenant, device, csr.keyFingerprint());
        X509Certificate cert = pki.issueDeviceCertificate(csr.csr().getSubjectPublicKeyInfo(), tenant, device, now, certificateTtl);
        var r = CredentialStore.recordOf(tenant, device, PlatformPki.PLATFORM_CA_ID, cert, csr.keyFingerprint());
        credentials.insertCertificate(h, r, now);
        return new Enrolled(new DevicePrincipal(tenant, device, credential), cert, r.serial());
    }

    private void audit(Handle h, Enrolled e, String action, String source, String detail) {
        audit.append(h, new AuditEntry(e.device().tenant().value(), "device:" + e.device().device() + " " + e.device().credential(),
                action, "device:" + e.device().device() + " certificate:" + e.serial(), source, AuditEntry.SUCCESS, detail));
    }

    private static void checkToken(BearerSecret presented, EnrollmentToken row, String identity, long now) {
        if (row == null) {
            throw new Unauthenticated("enrollment-token-unknown", identity, null);
        }
        if (!presented.matches(row.secretSha256())) {
            throw new Unauthenticated("enrollment-token-wrong-secret", identity, row.tenant().value());
        }
        if (row.usedMs() != null) {
            throw new Unauthenticated("enrollment-token-used", identity, row.tenant().value());
        }
        if (row.expiresMs() <= now) {
            throw new Unauthenticated("enrollment-token-expired", identity, row.tenant().value());
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
