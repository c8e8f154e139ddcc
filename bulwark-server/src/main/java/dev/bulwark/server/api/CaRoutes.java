package dev.bulwark.server.api;

import static dev.bulwark.server.identity.Role.AUDITOR;
import static dev.bulwark.server.identity.Role.FLEET_OPERATOR;
import static dev.bulwark.server.identity.Role.SECURITY_ANALYST;
import static dev.bulwark.server.identity.Role.TENANT_ADMIN;

import dev.bulwark.protocol.TenantId;
import dev.bulwark.server.core.Clock;
import dev.bulwark.server.core.Refusal;
import dev.bulwark.server.core.Views;
import dev.bulwark.server.crypto.Secrets;
import dev.bulwark.server.device.LiveSessions;
import dev.bulwark.server.http.ApiRoute;
import dev.bulwark.server.http.Call;
import dev.bulwark.server.http.Response;
import dev.bulwark.server.pki.CaStatus;
import dev.bulwark.server.pki.Pem;
import dev.bulwark.server.pki.TenantCaPolicy;
import dev.bulwark.server.pki.TenantCaStore;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * A tenant's own CAs, registered with proof of possession so that devices carrying factory certificates
 * from them can be registered.
 */
public final class CaRoutes {
    static final long CHALLENGE_TTL_MS = 3_600_000L;

    record RegisterCa(String certificate, String verificationCertificate) {
    }

    private final Clock clock;
    private final TenantCaStore tenantCas;
    private final LiveSessions sessions;

    public CaRoutes(Clock clock, TenantCaStore tenantCas, LiveSessions sessions) {
        this.clock = clock;
        this.tenantCas = tenantCas;
        this.sessions = sessions;
    }

    public List<ApiRoute> routes() {
        return List.of(
                ApiRoute.post("/api/v1/cas/challenges", "createCaChallenge")
                        .summary("Get a one-time challenge to put in the CN of a verification certificate signed by the CA's key")
                        .roles(TENANT_ADMIN).audit("ca.challenge").handle(this::challenge),
                ApiRoute.post("/api/v1/cas", "createCa").summary("Register a tenant CA with proof of possession")
                        .roles(TENANT_ADMIN).audit("ca.register")
                        .body("{\"certificate\":\"-----BEGIN CERTIFICATE-----\\n...\",\"verificationCertificate\":\"-----BEGIN CERTIFICATE-----\\n...\"}")
                        .handle(this::register),
                ApiRoute.get("/api/v1/cas", "listCas").summary("List the tenant's CAs")
                        .roles(TENANT_ADMIN, FLEET_OPERATOR, SECURITY_ANALYST, AUDITOR).handle(this::list),
                ApiRoute.get("/api/v1/cas/{caId}", "getCa").summary("Read a tenant CA")
                        .roles(TENANT_ADMIN, FLEET_OPERATOR, SECURITY_ANALYST, AUDITOR).handle(this::get),
                ApiRoute.post("/api/v1/cas/{caId}/revoke", "revokeCa").summary("Stop trusting a tenant CA")
                        .roles(TENANT_ADMIN, SECURITY_ANALYST).audit("ca.revoke").handle(this::revoke));
    }

    private Response challenge(Call call) {
        TenantId tenant = call.tenant();
        String challenge = "bulwark-pop-" + Secrets.randomHex(16);
        long now = clock.nowMs();
        call.target("tenant:" + tenant);
        call.tx(h -> {
            tenantCas.createChallenge(h, tenant, challenge, now, now + CHALLENGE_TTL_MS);
            return null;
        });
        Map<String, Object> out = new LinkedHashMap<>();
        out.put("challenge", challenge);
        out.put("expiresAt", Views.time(now + CHALLENGE_TTL_MS));
        out.put("instructions", "Create a certificate with subject CN=<challenge>, signed by the CA's private key, and POST it "
                + "as verificationCertificate together with the CA certificate to /api/v1/cas.");
        return Response.created(out);
    }

    private Response register(Call call) {
        TenantId tenant = call.tenant();
        RegisterCa req = call.body(RegisterCa.class);
        if (req.certificate() == null || req.verificationCertificate() == null) {
            throw Refusal.invalid("certificate and verificationCertificate are both required");
        }
        long now = clock.nowMs();
        TenantCaPolicy.CheckedCa ca = TenantCaPolicy.checkCa(req.certificate(), now);
        String cn = TenantCaPolicy.proofOfPossessionCn(ca, req.verificationCertificate(), now);
        String id = "ca-" + ca.fingerprint().substring(0, 16);
        call.target("ca:" + id);
        var stored = call.tx(h -> {
            tenantCas.consumeChallenge(h, tenant, cn, now);
            if (tenantCas.fingerprintRegistered(h, ca.fingerprint(), ca.keyFingerprint())) {
                throw Refusal.conflict("this CA (or its key) is already registered");
            }
            var r = new TenantCaStore.TenantCa(id, tenant.value(), ca.subject(), ca.fingerprint(), ca.keyFingerprint(),
                    ca.certificate().getNotAfter().getTime(), CaStatus.ACTIVE, now, Pem.encode(ca.certificate()));
            tenantCas.insert(h, r);
            return r;
        }, "subject " + ca.subject());
        return Response.created(view(stored));
    }

    private Response list(Call call) {
        TenantId tenant = call.tenant();
        return Response.ok(Map.of("items", call.read(h -> tenantCas.list(h, tenant)).stream().map(CaRoutes::view).toList()));
    }

    private Response get(Call call) {
        TenantId tenant = call.tenant();
        String id = call.path("caId");
        return Response.ok(view(call.read(h -> tenantCas.find(h, tenant, id)).orElseThrow(Refusal::notFound)));
    }

    private Response revoke(Call call) {
        TenantId tenant = call.tenant();
        String id = call.path("caId");
        call.target("ca:" + id);
        var r = call.tx(h -> {
            tenantCas.find(h, tenant, id).orElseThrow(Refusal::notFound);
            tenantCas.revoke(h, tenant, id, clock.nowMs());
            return tenantCas.find(h, tenant, id).orElseThrow();
        });
        sessions.terminateUsingCredentialPrefix(tenant, "certificate:" + id + "/", "tenant CA revoked");
        return Response.ok(view(r));
    }

    static Map<String, Object> view(TenantCaStore.TenantCa ca) {
        Map<String, Object> m = new LinkedHashMap<>();
        m.put("id", ca.id());
        m.put("subject", ca.subject());
        m.put("fingerprintSha256", ca.fingerprint());
        m.put("notAfter", Views.time(ca.notAfterMs()));
        m.put("status", ca.status().wireName());
        m.put("createdAt", Views.time(ca.createdMs()));
        m.put("certificate", ca.pem());
        return m;
    }
}
