package dev.bulwark.server.api;

import static dev.bulwark.server.identity.Role.AUDITOR;
import static dev.bulwark.server.identity.Role.FLEET_OPERATOR;
import static dev.bulwark.server.identity.Role.SECURITY_ANALYST;
import static dev.bulwark.server.identity.Role.TENANT_ADMIN;

import dev.bulwark.protocol.DeviceId;
import dev.bulwark.protocol.TenantId;
import dev.bulwark.server.core.Clock;
import dev.bulwark.server.core.Refusal;
import dev.bulwark.server.core.Views;
import dev.bulwark.server.crypto.BearerSecret;
import dev.bulwark.server.device.CredentialStore;
import dev.bulwark.server.device.DeviceStatus;
import dev.bulwark.server.device.DeviceStore;
import dev.bulwark.server.device.EstService;
import dev.bulwark.server.device.LiveSessions;
import dev.bulwark.server.http.ApiRoute;
import dev.bulwark.server.http.Call;
import dev.bulwark.server.http.Response;
import dev.bulwark.server.pki.CsrPolicy;
import dev.bulwark.server.pki.EnrollmentTokenStore;
import dev.bulwark.server.pki.Pem;
import dev.bulwark.server.pki.PlatformPki;
import dev.bulwark.server.pki.TenantCaPolicy;
import dev.bulwark.server.pki.TenantCaStore;
import java.security.cert.X509Certificate;
import java.time.Duration;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import org.bouncycastle.asn1.x509.SubjectPublicKeyInfo;
import org.jdbi.v3.core.Handle;

/**
 * A device's credentials: certificates (issued from a CSR or registered from a factory), bearer tokens and
 * one-time enrollment tokens; each listed and revoked per device.
 */
public final class DeviceCredentialRoutes {
    static final int MAX_CERT_DAYS = 825;
    static final int DEFAULT_ENROLLMENT_MINUTES = 60;
    static final int MAX_ENROLLMENT_MINUTES = 7 * 24 * 60;
    static final long DEVICE_TOKEN_TTL_MS = Duration.ofDays(365).toMillis();

    /** Exactly one of {@code csr} (the usual path) or {@code certificate} (a factory certificate from a registered tenant CA). */
    record IssueCertificate(String csr, String certificate, Integer validityDays) {
    }

    private final Clock clock;
    private final PlatformPki pki;
    private final Duration certificateTtl;
    private final DeviceStore devices;
    private final CredentialStore credentials;
    private final TenantCaStore tenantCas;
    private final EnrollmentTokenStore enrollmentTokens;
    private final LiveSessions sessions;

    /** {@code certificateTtl}: the validity of a certificate issued from a CSR that asks for none. */
    public DeviceCredentialRoutes(Clock clock, PlatformPki pki, Duration certificateTtl, DeviceStore devices, CredentialStore credentials,
                                  TenantCaStore tenantCas, EnrollmentTokenStore enrollmentTokens, LiveSessions sessions) {
        this.clock = clock;
        this.pki = pki;
        this.certificateTtl = certificateTtl;
        this.devices = devices;
        this.credentials = credentials;
        this.tenantCas = tenantCas;
        this.enrollmentTokens = enrollmentTokens;
        this.sessions = sessions;
    }

    public List<ApiRoute> routes() {
        return List.of(
                ApiRoute.post("/api/v1/devices/{deviceId}/certificates", "createDeviceCertificate")
                        .summary("Issue a device certificate from a CSR made on the device, or register a factory certificate")
                        .roles(TENANT_ADMIN, FLEET_OPERATOR).audit("device.certificate.issue")
                        .body("{\"csr\":\"-----BEGIN CERTIFICATE REQUEST-----\\n...\\n-----END CERTIFICATE REQUEST-----\\n\"}")
                        .handle(this::issueCertificate),
                ApiRoute.get("/api/v1/devices/{deviceId}/certificates", "listDeviceCertificates").summary("List a device's certificates")
                        .roles(TENANT_ADMIN, FLEET_OPERATOR, SECURITY_ANALYST, AUDITOR).handle(this::listCertificates),
                ApiRoute.post("/api/v1/devices/{deviceId}/certificates/{serial}/revoke", "revokeDeviceCertificate")
                        .summary("Revoke a device certificate").roles(TENANT_ADMIN, FLEET_OPERATOR, SECURITY_ANALYST)
                        .audit("device.certificate.revoke").handle(this::revokeCertificate),
                ApiRoute.post("/api/v1/devices/{deviceId}/tokens", "createDeviceToken")
                        .summary("Generate a device token (shown once) for token-over-TLS devices")
                        .roles(TENANT_ADMIN, FLEET_OPERATOR).audit("device.token.issue").handle(this::issueToken),
                ApiRoute.post("/api/v1/devices/{deviceId}/enrollment-tokens", "createEnrollmentToken")
                        .summary("Create a one-time, short-lived token (shown once) for the device's first EST enrollment")
                        .roles(TENANT_ADMIN, FLEET_OPERATOR).audit("device.enrollment-token.issue").query("ttlMinutes")
                        .handle(this::issueEnrollmentToken),
                ApiRoute.get("/api/v1/devices/{deviceId}/tokens", "listDeviceTokens").summary("List a device's tokens (metadata only)")
                        .roles(TENANT_ADMIN, FLEET_OPERATOR, SECURITY_ANALYST, AUDITOR).handle(this::listTokens),
                ApiRoute.delete("/api/v1/devices/{deviceId}/tokens/{tokenId}", "revokeDeviceToken").summary("Revoke a device token")
                        .roles(TENANT_ADMIN, FLEET_OPERATOR, SECURITY_ANALYST).audit("device.token.revoke").handle(this::revokeToken));
    }

    private Response issueCertificate(Call call) {
        TenantId tenant = call.tenant();
        DeviceId id = call.path("deviceId", DeviceId::of);
        call.read(h -> devices.require(h, tenant, id));
        IssueCertificate req = call.body(IssueCertificate.class);
        call.target("device:" + id);
        if ((req.csr() == null) == (req.certificate() == null)) {
            throw Refusal.invalid("give exactly one of 'csr' (a PKCS#10 request made on the device) or 'certificate' (a factory certificate)");
        }
        Duration validity = certificateTtl;
        if (req.validityDays() != null) {
            if (req.validityDays() < 1 || req.validityDays() > MAX_CERT_DAYS) {
                throw Refusal.invalid("validityDays must be between 1 and " + MAX_CERT_DAYS);
            }
            validity = Duration.ofDays(req.validityDays());
        }
        if (req.certificate() != null && req.validityDays() != null) {
            throw Refusal.invalid("validityDays applies to CSRs only; a factory certificate keeps its own validity");
        }
        long now = clock.nowMs();
        CredentialStore.CertificateRecord record;
        if (req.csr() != null) {
            CsrPolicy.AcceptedCsr csr = CsrPolicy.check(req.csr(), tenant, id);
            Duration v = validity;
            record = call.tx(h -> {
                requireUsable(h, tenant, id);
                credentials.requireKeyNotUsedElsewhere(h, tenant, id, csr.keyFingerprint());
                X509Certificate cert = pki.issueDeviceCertificate(csr.csr().getSubjectPublicKeyInfo(), tenant, id, now, v);
                var r = CredentialStore.recordOf(tenant, id, PlatformPki.PLATFORM_CA_ID, cert, csr.keyFingerprint());
                credentials.insertCertificate(h, r, now);
                return r;
            }, "issued from CSR, " + csr.keyDescription());
            return Response.created(certificateIssued(record, pki.caPem()));
        }
        X509Certificate cert = Pem.certificate(req.certificate());
        if (cert == null) {
            throw Refusal.invalid("certificate must be exactly one PEM-encoded X.509 certificate");
        }
        String keyFp = dev.bulwark.server.pki.KeyPolicy.fingerprint(SubjectPublicKeyInfo.getInstance(cert.getPublicKey().getEncoded()));
        TenantCaStore.TenantCa[] issuer = new TenantCaStore.TenantCa[1];
        record = call.tx(h -> {
            requireUsable(h, tenant, id);
            List<TenantCaStore.TenantCa> cas = tenantCas.active(h, tenant);
            List<X509Certificate> caCerts = cas.stream().map(c -> Pem.certificate(c.pem())).toList();
            int idx = TenantCaPolicy.checkFactoryCertificate(cert, caCerts, id, now);
            issuer[0] = cas.get(idx);
            credentials.requireKeyNotUsedElsewhere(h, tenant, id, keyFp);
            var r = CredentialStore.recordOf(tenant, id, issuer[0].id(), cert, keyFp);
            if (credentials.findCertificateByFingerprint(h, r.fingerprint()).isPresent()) {
                throw Refusal.conflict("this certificate is already registered");
            }
            credentials.insertCertificate(h, r, now);
            return r;
        }, "factory certificate registered");
        return Response.created(certificateIssued(record, issuer[0].pem()));
    }

    private void requireUsable(Handle h, TenantId tenant, DeviceId id) {
        var d = devices.lock(h, tenant, id);
        if (d.status() != DeviceStatus.ACTIVE) {
            throw Refusal.conflict("the device is " + d.status().wireName() + "; credentials are issued to active devices only");
        }
    }

    private static Map<String, Object> certificateIssued(CredentialStore.CertificateRecord r, String chainPem) {
        Map<String, Object> out = certificateView(r);
        out.put("certificate", r.pem());
        out.put("chain", chainPem);
        return out;
    }

    private Response listCertificates(Call call) {
        TenantId tenant = call.tenant();
        DeviceId id = call.path("deviceId", DeviceId::of);
        var certs = call.read(h -> {
            devices.require(h, tenant, id);
            return credentials.certificates(h, tenant, id);
        });
        return Response.ok(Map.of("items", certs.stream().map(DeviceCredentialRoutes::certificateView).toList()));
    }

    private Response revokeCertificate(Call call) {
        TenantId tenant = call.tenant();
        DeviceId id = call.path("deviceId", DeviceId::of);
        String serial = call.path("serial", v -> {
            if (!v.matches("[0-9a-f]{1,64}")) {
                throw new IllegalArgumentException();
            }
            return v;
        });
        call.target("device:" + id + " certificate:" + serial);
        var r = call.tx(h -> {
            devices.lock(h, tenant, id);
            credentials.certificate(h, tenant, id, serial).orElseThrow(Refusal::notFound);
            credentials.revokeCertificate(h, tenant, id, serial, "revoked by operator", clock.nowMs());
            return credentials.certificate(h, tenant, id, serial).orElseThrow();
        });
        sessions.terminateIfUsing(tenant, id, "certificate:" + r.caId() + "/" + serial, "certificate revoked");
        return Response.ok(certificateView(r));
    }

    private Response issueToken(Call call) {
        TenantId tenant = call.tenant();
        DeviceId id = call.path("deviceId", DeviceId::of);
        call.target("device:" + id);
        BearerSecret secret = BearerSecret.generate(BearerSecret.DEVICE);
        var t = call.tx(h -> {
            requireUsable(h, tenant, id);
            return credentials.issueToken(h, tenant, id, secret, clock.nowMs(), DEVICE_TOKEN_TTL_MS);
        }, "token " + secret.id());
        Map<String, Object> out = tokenView(t);
        out.put("token", secret.reveal());
        out.put("username", id.value() + "@" + tenant.value());
        return Response.created(out);
    }

    private Response issueEnrollmentToken(Call call) {
        TenantId tenant = call.tenant();
        DeviceId id = call.path("deviceId", DeviceId::of);
        int ttlMinutes = call.queryInt("ttlMinutes", DEFAULT_ENROLLMENT_MINUTES, 1, MAX_ENROLLMENT_MINUTES);
        call.target("device:" + id);
        long now = clock.nowMs();
        long expires = now + ttlMinutes * 60_000L;
        BearerSecret[] secret = new BearerSecret[1];
        call.tx(h -> {
            requireUsable(h, tenant, id);
            secret[0] = EstService.newEnrollmentSecret();
            enrollmentTokens.create(h, tenant, id, secret[0], call.principal().actor(), now, expires - now);
            return null;
        }, "enrollment token valid " + ttlMinutes + " min");
        Map<String, Object> out = new java.util.LinkedHashMap<>();
        out.put("id", secret[0].id());
        out.put("token", secret[0].reveal());
        out.put("deviceId", id.value());
        out.put("expiresAt", Views.time(expires));
        out.put("oneTime", true);
        return Response.created(out);
    }

    private Response listTokens(Call call) {
        TenantId tenant = call.tenant();
        DeviceId id = call.path("deviceId", DeviceId::of);
        var tokens = call.read(h -> {
            devices.require(h, tenant, id);
            return credentials.tokens(h, tenant, id);
        });
        return Response.ok(Map.of("items", tokens.stream().map(DeviceCredentialRoutes::tokenView).toList()));
    }

    private Response revokeToken(Call call) {
        TenantId tenant = call.tenant();
        DeviceId id = call.path("deviceId", DeviceId::of);
        String tokenId = call.path("tokenId", v -> {
            if (!v.matches("[0-9a-f]{16}")) {
                throw new IllegalArgumentException();
            }
            return v;
        });
        call.target("device:" + id + " token:" + tokenId);
        call.tx(h -> {
            devices.lock(h, tenant, id);
            credentials.token(h, tenant, id, tokenId).orElseThrow(Refusal::notFound);
            credentials.revokeToken(h, tenant, id, tokenId, clock.nowMs());
            return null;
        });
        sessions.terminateIfUsing(tenant, id, "token:" + tokenId, "device token revoked");
        return Response.noContent();
    }

    static Map<String, Object> certificateView(CredentialStore.CertificateRecord r) {
        Map<String, Object> m = new LinkedHashMap<>();
        m.put("serial", r.serial());
        m.put("issuer", r.caId());
        m.put("subject", r.subject());
        m.put("fingerprintSha256", r.fingerprint());
        m.put("notBefore", Views.time(r.notBeforeMs()));
        m.put("notAfter", Views.time(r.notAfterMs()));
        m.put("status", r.status().wireName());
        m.put("revokedAt", Views.time(r.revokedMs()));
        return m;
    }

    static Map<String, Object> tokenView(CredentialStore.TokenRecord t) {
        Map<String, Object> m = new LinkedHashMap<>();
        m.put("id", t.id());
        m.put("createdAt", Views.time(t.createdMs()));
        m.put("expiresAt", Views.time(t.expiresMs()));
        m.put("revokedAt", Views.time(t.revokedMs()));
        return m;
    }
}
