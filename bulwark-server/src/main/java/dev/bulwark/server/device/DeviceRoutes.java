package dev.bulwark.server.device;

import static dev.bulwark.server.identity.Role.AUDITOR;
import static dev.bulwark.server.identity.Role.FLEET_OPERATOR;
import static dev.bulwark.server.identity.Role.SECURITY_ANALYST;
import static dev.bulwark.server.identity.Role.TENANT_ADMIN;

import dev.bulwark.protocol.DeviceId;
import dev.bulwark.protocol.ModelId;
import dev.bulwark.protocol.TenantId;
import dev.bulwark.server.Refusal;
import dev.bulwark.server.Services;
import dev.bulwark.server.crypto.BearerSecret;
import dev.bulwark.server.http.ApiRoute;
import dev.bulwark.server.http.Call;
import dev.bulwark.server.http.Response;
import dev.bulwark.server.http.Views;
import dev.bulwark.server.identity.IdentityRoutes;
import dev.bulwark.server.pki.TenantCaStore;
import dev.bulwark.server.pki.CsrPolicy;
import dev.bulwark.server.pki.Pem;
import dev.bulwark.server.pki.PlatformPki;
import dev.bulwark.server.pki.TenantCaPolicy;
import dev.bulwark.server.crypto.Secrets;
import dev.bulwark.server.pki.EstService;
import java.security.cert.X509Certificate;
import java.time.Duration;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import org.bouncycastle.asn1.x509.SubjectPublicKeyInfo;
import org.jdbi.v3.core.Handle;

/** The device registry and device credentials. */
public final class DeviceRoutes {
    static final int MAX_CERT_DAYS = 825;
    static final int DEFAULT_ENROLLMENT_MINUTES = 60;
    static final int MAX_ENROLLMENT_MINUTES = 7 * 24 * 60;
    static final long DEVICE_TOKEN_TTL_MS = Duration.ofDays(365).toMillis();

    record CreateDevice(String id, String model) {
    }

    /** Exactly one of {@code csr} (the usual path) or {@code certificate} (a factory certificate from a registered tenant CA). */
    record IssueCertificate(String csr, String certificate, Integer validityDays) {
    }

    private final Services s;

    public DeviceRoutes(Services s) {
        this.s = s;
    }

    public List<ApiRoute> routes() {
        return List.of(
                ApiRoute.post("/api/v1/devices", "createDevice").summary("Register a device in the caller's tenant")
                        .roles(TENANT_ADMIN, FLEET_OPERATOR).audit("device.create")
                        .body("{\"id\":\"thermo-0001\",\"model\":\"thermo\"}").handle(this::create),
                ApiRoute.get("/api/v1/devices", "listDevices").summary("List devices (cursor pagination)")
                        .roles(TENANT_ADMIN, FLEET_OPERATOR, SECURITY_ANALYST, AUDITOR).query("limit", "cursor").handle(this::list),
                ApiRoute.get("/api/v1/devices/{deviceId}", "getDevice").summary("Read a device")
                        .roles(TENANT_ADMIN, FLEET_OPERATOR, SECURITY_ANALYST, AUDITOR).handle(this::get),
                ApiRoute.delete("/api/v1/devices/{deviceId}", "deleteDevice").summary("Delete a device and revoke all its credentials")
                        .roles(TENANT_ADMIN, FLEET_OPERATOR).audit("device.delete").handle(this::delete),
                ApiRoute.post("/api/v1/devices/{deviceId}/disable", "disableDevice").summary("Disable a device")
                        .roles(TENANT_ADMIN, FLEET_OPERATOR, SECURITY_ANALYST).audit("device.disable").handle(this::disable),
                ApiRoute.post("/api/v1/devices/{deviceId}/enable", "enableDevice").summary("Re-enable a disabled device")
                        .roles(TENANT_ADMIN, FLEET_OPERATOR).audit("device.enable").handle(this::enable),
                ApiRoute.post("/api/v1/devices/{deviceId}/quarantine", "quarantineDevice")
                        .summary("Quarantine a device: disconnect it now, refuse its reconnects, optionally revoke its credentials; data is kept")
                        .roles(TENANT_ADMIN, SECURITY_ANALYST).audit("device.quarantine")
                        .body("{\"reason\":\"cloned-device alert\",\"revokeCredentials\":true}").handle(this::quarantine),
                ApiRoute.delete("/api/v1/devices/{deviceId}/quarantine", "releaseDevice").summary("Lift a device's quarantine")
                        .roles(TENANT_ADMIN, SECURITY_ANALYST).audit("device.quarantine.lift").handle(this::release),
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

    private Response create(Call call) {
        TenantId tenant = call.tenant();
        CreateDevice req = call.body(CreateDevice.class);
        DeviceId id = IdentityRoutes.parse(() -> DeviceId.of(req.id()));
        ModelId model = IdentityRoutes.parse(() -> ModelId.of(req.model()));
        call.target("device:" + id);
        var d = call.tx(h -> s.devices().create(h, tenant, id, model, s.clock().nowMs()));
        return Response.created(view(d));
    }

    private Response list(Call call) {
        TenantId tenant = call.tenant();
        int limit = call.queryInt("limit", 100, 1, 1000);
        String after = Views.decodeCursor(call.query("cursor"));
        var list = call.read(h -> s.devices().list(h, tenant, after, limit));
        Map<String, Object> out = new LinkedHashMap<>();
        out.put("items", list.stream().map(DeviceRoutes::view).toList());
        out.put("nextCursor", list.size() == limit ? Views.cursor(list.get(list.size() - 1).id()) : null);
        return Response.ok(out);
    }

    private Response get(Call call) {
        TenantId tenant = call.tenant();
        DeviceId id = call.path("deviceId", DeviceId::of);
        return Response.ok(view(call.read(h -> s.devices().require(h, tenant, id))));
    }

    private Response delete(Call call) {
        TenantId tenant = call.tenant();
        DeviceId id = call.path("deviceId", DeviceId::of);
        call.target("device:" + id);
        call.tx(h -> {
            s.devices().lock(h, tenant, id);
            long now = s.clock().nowMs();
            s.credentials().revokeAll(h, tenant, id, "device deleted", now);
            s.devices().setStatus(h, tenant, id, DeviceStatus.DELETED, now);
            return null;
        });
        s.sessions().terminate(tenant, id, "device deleted");
        return Response.noContent();
    }

    private Response disable(Call call) {
        return setStatus(call, DeviceStatus.DISABLED);
    }

    private Response enable(Call call) {
        return setStatus(call, DeviceStatus.ACTIVE);
    }

    private Response setStatus(Call call, DeviceStatus target) {
        TenantId tenant = call.tenant();
        DeviceId id = call.path("deviceId", DeviceId::of);
        call.target("device:" + id);
        var d = call.tx(h -> {
            var current = s.devices().lock(h, tenant, id);
            if (current.status() == DeviceStatus.QUARANTINED) {
                throw Refusal.conflict("a quarantined device changes state only through its quarantine (DELETE …/quarantine)");
            }
            long now = s.clock().nowMs();
            s.devices().setStatus(h, tenant, id, target, now);
            return new DeviceStore.Device(current.tenantId(), current.id(), current.model(), target, current.createdMs(), now);
        });
        if (target != DeviceStatus.ACTIVE) {
            s.sessions().terminate(tenant, id, "device " + target.wireName());
        }
        return Response.ok(view(d));
    }

    /** A quarantine request. */
    public record Quarantine(String reason, Boolean revokeCredentials) {
    }

    private Response quarantine(Call call) {
        TenantId tenant = call.tenant();
        DeviceId id = call.path("deviceId", DeviceId::of);
        Quarantine req = call.body(Quarantine.class);
        if (req.reason() == null || req.reason().isBlank() || req.reason().length() > 500) {
            throw Refusal.invalid("reason is required (at most 500 characters): it goes to the audit log");
        }
        boolean revoke = Boolean.TRUE.equals(req.revokeCredentials());
        call.target("device:" + id);
        int[] revoked = new int[1];
        var d = call.tx(h -> {
            var current = s.devices().lock(h, tenant, id);
            if (current.status() == DeviceStatus.DELETED) {
                throw Refusal.notFound();
            }
            long now = s.clock().nowMs();
            if (current.status() != DeviceStatus.QUARANTINED) {
                h.createUpdate("UPDATE devices SET quarantined_from = :from WHERE tenant_id = :t AND id = :d")
                        .bind("from", current.status().wireName()).bind("t", tenant.value()).bind("d", id.value()).execute();
            }
            s.devices().setStatus(h, tenant, id, DeviceStatus.QUARANTINED, now);
            if (revoke) {
                revoked[0] = s.credentials().revokeAll(h, tenant, id, "quarantine: " + req.reason(), now);
            }
            return new DeviceStore.Device(current.tenantId(), current.id(), current.model(), DeviceStatus.QUARANTINED, current.createdMs(), now);
        }, "quarantined: " + req.reason() + (revoke ? " (credentials revoked)" : ""));
        // after the commit, so that a reconnect cannot pass the status check in between
        s.sessions().terminate(tenant, id, "device quarantined");
        Map<String, Object> out = view(d);
        out.put("credentialsRevoked", revoked[0]);
        return Response.ok(out);
    }

    private Response release(Call call) {
        TenantId tenant = call.tenant();
        DeviceId id = call.path("deviceId", DeviceId::of);
        call.target("device:" + id);
        var d = call.tx(h -> {
            var current = s.devices().lock(h, tenant, id);
            if (current.status() != DeviceStatus.QUARANTINED) {
                throw Refusal.conflict("the device is not quarantined");
            }
            long now = s.clock().nowMs();
            // back to the state it had before the quarantine (a disabled device stays disabled)
            String from = h.createQuery("SELECT quarantined_from FROM devices WHERE tenant_id = :t AND id = :d")
                    .bind("t", tenant.value()).bind("d", id.value()).mapTo(String.class).findOne().orElse(null);
            DeviceStatus back = from == null ? DeviceStatus.ACTIVE : DeviceStatus.fromWire(from);
            s.devices().setStatus(h, tenant, id, back, now);
            return new DeviceStore.Device(current.tenantId(), current.id(), current.model(), back, current.createdMs(), now);
        }, "quarantine lifted");
        return Response.ok(view(d));
    }

    private Response issueCertificate(Call call) {
        TenantId tenant = call.tenant();
        DeviceId id = call.path("deviceId", DeviceId::of);
        call.read(h -> s.devices().require(h, tenant, id));
        IssueCertificate req = call.body(IssueCertificate.class);
        call.target("device:" + id);
        if ((req.csr() == null) == (req.certificate() == null)) {
            throw Refusal.invalid("give exactly one of 'csr' (a PKCS#10 request made on the device) or 'certificate' (a factory certificate)");
        }
        Duration validity = s.config().deviceCertificateTtl();
        if (req.validityDays() != null) {
            if (req.validityDays() < 1 || req.validityDays() > MAX_CERT_DAYS) {
                throw Refusal.invalid("validityDays must be between 1 and " + MAX_CERT_DAYS);
            }
            validity = Duration.ofDays(req.validityDays());
        }
        if (req.certificate() != null && req.validityDays() != null) {
            throw Refusal.invalid("validityDays applies to CSRs only; a factory certificate keeps its own validity");
        }
        long now = s.clock().nowMs();
        CredentialStore.CertificateRecord record;
        if (req.csr() != null) {
            CsrPolicy.AcceptedCsr csr = CsrPolicy.check(req.csr(), tenant, id);
            Duration v = validity;
            record = call.tx(h -> {
                requireUsable(h, tenant, id);
                s.credentials().requireKeyNotUsedElsewhere(h, tenant, id, csr.keyFingerprint());
                X509Certificate cert = s.pki().issueDeviceCertificate(csr.csr().getSubjectPublicKeyInfo(), tenant, id, now, v);
                var r = CredentialStore.recordOf(tenant, id, PlatformPki.PLATFORM_CA_ID, cert, csr.keyFingerprint());
                s.credentials().insertCertificate(h, r, now);
                return r;
            }, "issued from CSR, " + csr.keyDescription());
            return Response.created(certificateIssued(record, s.pki().caPem()));
        }
        X509Certificate cert = Pem.certificate(req.certificate());
        if (cert == null) {
            throw Refusal.invalid("certificate must be exactly one PEM-encoded X.509 certificate");
        }
        String keyFp = dev.bulwark.server.pki.KeyPolicy.fingerprint(SubjectPublicKeyInfo.getInstance(cert.getPublicKey().getEncoded()));
        TenantCaStore.TenantCa[] issuer = new TenantCaStore.TenantCa[1];
        record = call.tx(h -> {
            requireUsable(h, tenant, id);
            List<TenantCaStore.TenantCa> cas = s.tenantCas().active(h, tenant);
            List<X509Certificate> caCerts = cas.stream().map(c -> Pem.certificate(c.pem())).toList();
            int idx = TenantCaPolicy.checkFactoryCertificate(cert, caCerts, id, now);
            issuer[0] = cas.get(idx);
            s.credentials().requireKeyNotUsedElsewhere(h, tenant, id, keyFp);
            var r = CredentialStore.recordOf(tenant, id, issuer[0].id(), cert, keyFp);
            if (s.credentials().findCertificateByFingerprint(h, r.fingerprint()).isPresent()) {
                throw Refusal.conflict("this certificate is already registered");
            }
            s.credentials().insertCertificate(h, r, now);
            return r;
        }, "factory certificate registered");
        return Response.created(certificateIssued(record, issuer[0].pem()));
    }

    private void requireUsable(Handle h, TenantId tenant, DeviceId id) {
        var d = s.devices().lock(h, tenant, id);
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
            s.devices().require(h, tenant, id);
            return s.credentials().certificates(h, tenant, id);
        });
        return Response.ok(Map.of("items", certs.stream().map(DeviceRoutes::certificateView).toList()));
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
            s.devices().lock(h, tenant, id);
            s.credentials().certificate(h, tenant, id, serial).orElseThrow(Refusal::notFound);
            s.credentials().revokeCertificate(h, tenant, id, serial, "revoked by operator", s.clock().nowMs());
            return s.credentials().certificate(h, tenant, id, serial).orElseThrow();
        });
        s.sessions().terminateIfUsing(tenant, id, "certificate:" + r.caId() + "/" + serial, "certificate revoked");
        return Response.ok(certificateView(r));
    }

    private Response issueToken(Call call) {
        TenantId tenant = call.tenant();
        DeviceId id = call.path("deviceId", DeviceId::of);
        call.target("device:" + id);
        BearerSecret secret = BearerSecret.generate(BearerSecret.DEVICE);
        var t = call.tx(h -> {
            requireUsable(h, tenant, id);
            return s.credentials().issueToken(h, tenant, id, secret, s.clock().nowMs(), DEVICE_TOKEN_TTL_MS);
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
        long now = s.clock().nowMs();
        long expires = now + ttlMinutes * 60_000L;
        BearerSecret[] secret = new BearerSecret[1];
        call.tx(h -> {
            requireUsable(h, tenant, id);
            secret[0] = EstService.createToken(h, tenant, id, call.principal().actor(), now, expires - now);
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
            s.devices().require(h, tenant, id);
            return s.credentials().tokens(h, tenant, id);
        });
        return Response.ok(Map.of("items", tokens.stream().map(DeviceRoutes::tokenView).toList()));
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
            s.devices().lock(h, tenant, id);
            s.credentials().token(h, tenant, id, tokenId).orElseThrow(Refusal::notFound);
            s.credentials().revokeToken(h, tenant, id, tokenId, s.clock().nowMs());
            return null;
        });
        s.sessions().terminateIfUsing(tenant, id, "token:" + tokenId, "device token revoked");
        return Response.noContent();
    }

    static Map<String, Object> view(DeviceStore.Device d) {
        Map<String, Object> m = new LinkedHashMap<>();
        m.put("id", d.id());
        m.put("model", d.model());
        m.put("status", d.status().wireName());
        m.put("createdAt", Views.time(d.createdMs()));
        m.put("updatedAt", Views.time(d.updatedMs()));
        return m;
    }

    static Map<String, Object> certificateView(CredentialStore.CertificateRecord r) {
        Map<String, Object> m = new LinkedHashMap<>();
        m.put("serial", r.serial());
        m.put("issuer", r.caId());
        m.put("subject", r.subject());
        m.put("fingerprintSha256", r.fingerprint());
        m.put("notBefore", Views.time(r.notBeforeMs()));
        m.put("notAfter", Views.time(r.notAfterMs()));
        m.put("status", r.status());
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
