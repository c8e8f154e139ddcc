package dev.bulwark.server.api;

import static dev.bulwark.server.api.OwnerIds.mayAct;
import static dev.bulwark.server.api.OwnerIds.ownerId;
import static dev.bulwark.server.identity.Role.OWNER;
import static dev.bulwark.server.identity.Role.TENANT_ADMIN;

import com.fasterxml.jackson.databind.ObjectMapper;
import dev.bulwark.protocol.DeviceId;
import dev.bulwark.protocol.TenantId;
import dev.bulwark.server.audit.AuditEntry;
import dev.bulwark.server.audit.AuditLog;
import dev.bulwark.server.core.Clock;
import dev.bulwark.server.core.Refusal;
import dev.bulwark.server.core.Views;
import dev.bulwark.server.crypto.DataKeys;
import dev.bulwark.server.crypto.Secrets;
import dev.bulwark.server.device.DeviceStore;
import dev.bulwark.server.http.ApiRoute;
import dev.bulwark.server.http.Call;
import dev.bulwark.server.http.Response;
import dev.bulwark.server.identity.ApiTokens;
import dev.bulwark.server.identity.OperatorStore;
import dev.bulwark.server.identity.Role;
import dev.bulwark.server.lifecycle.DataLifecycle;
import dev.bulwark.server.lifecycle.OwnerStore;
import dev.bulwark.server.ownership.PeriodStore;
import dev.bulwark.server.ownership.Ownership;
import dev.bulwark.server.store.Database;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.ArrayList;
import java.util.EnumSet;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * Owner accounts: created with their own token, read (every operator read audited), and deleted with the
 * keys of the owner's periods (crypto-shredding: the rows go too, and a copy of the database taken before is
 * left with ciphertext that nothing opens). Exports and retention are {@link DataRoutes}, device transfers
 * (ownership periods) {@link TransferRoutes}.
 */
public final class OwnerRoutes {
    private static final ObjectMapper JSON = new ObjectMapper();
    private final Database db;
    private final Clock clock;
    private final AuditLog audit;
    private final ApiTokens apiTokens;
    private final OperatorStore operators;
    private final DeviceStore devices;
    private final Duration tokenTtl;
    private final OwnerStore owners;
    private final PeriodStore periods;
    private final Ownership ownership;
    private final DataLifecycle lifecycle;

    /** {@code tokenTtl}: how long an owner's token lives (the operators' token lifetime). */
    public OwnerRoutes(Database db, Clock clock, AuditLog audit, ApiTokens apiTokens, OperatorStore operators, DeviceStore devices,
                       Duration tokenTtl, OwnerStore owners, PeriodStore periods, Ownership ownership, DataLifecycle lifecycle) {
        this.db = db;
        this.clock = clock;
        this.audit = audit;
        this.apiTokens = apiTokens;
        this.operators = operators;
        this.devices = devices;
        this.tokenTtl = tokenTtl;
        this.owners = owners;
        this.periods = periods;
        this.ownership = ownership;
        this.lifecycle = lifecycle;
    }

    /** A new owner: personal data kept sealed under the owner's own key. */
    public record NewOwner(String name, String email) {
    }

    public List<ApiRoute> routes() {
        return List.of(
                ApiRoute.post("/api/v1/owners", "createOwner").summary("Create an owner account; its token is shown once")
                        .roles(TENANT_ADMIN).audit("owner.create").body("{\"name\":\"Ada Lovelace\",\"email\":\"ada@example.com\"}")
                        .handle(this::create),
                ApiRoute.post("/api/v1/owners/{ownerId}/tokens", "rotateOwnerToken")
                        .summary("The owner replaces their token: a new one is shown once and every other token of the account is "
                                + "revoked, including the one shown to the tenant admin who created the account")
                        .roles(OWNER, TENANT_ADMIN).audit("owner.token.rotate").handle(this::rotateToken),
                ApiRoute.get("/api/v1/owners/{ownerId}", "getOwner")
                        .summary("An owner's personal data and ownership periods (tenant-admin, every read audited; or the owner)")
                        .roles(TENANT_ADMIN, OWNER).handle(this::get),
                ApiRoute.delete("/api/v1/owners/{ownerId}", "deleteOwner")
                        .summary("Delete an owner account: the keys of its periods are destroyed and its data deleted")
                        .roles(TENANT_ADMIN, OWNER).audit("owner.delete").handle(this::delete));
    }

    private Response rotateToken(Call call) {
        String id = ownerId(call.path("ownerId"));
        mayAct(call, id);
        TenantId tenant = call.tenant();
        call.target("owner:" + id);
        record Rotated(ApiTokens.Issued token, int revoked) {
        }
        boolean exists = call.read(h -> owners.exists(h, tenant, id));
        if (!exists) {
            throw Refusal.notFound();
        }
        if (!call.principal().name().equals(id)) {
            // an operator minting an owner's token would read as the owner: only the owner replaces their own
            throw new Refusal(Refusal.Kind.FORBIDDEN, "only the owner replaces their token");
        }
        Rotated r = call.tx(h -> {
            ApiTokens.Issued t = apiTokens.issue(h, tenant.value(), id, tokenTtl.toMillis());
            return new Rotated(t, apiTokens.revokeOthers(h, tenant.value(), id, t.info().id()));
        }, "the owner replaced their token");
        Map<String, Object> out = new LinkedHashMap<>();
        out.put("id", id);
        out.put("token", r.token().secret().reveal());
        out.put("tokenId", r.token().info().id());
        out.put("expiresAt", dev.bulwark.server.core.Views.time(r.token().info().expiresMs()));
        out.put("revokedTokens", r.revoked());
        return Response.created(out);
    }

    private Response create(Call call) {
        NewOwner req = call.body(NewOwner.class);
        if (req.name() == null || req.name().isBlank() || req.name().length() > 200 || (req.email() != null && req.email().length() > 200)) {
            throw Refusal.invalid("name is required (at most 200 characters); email is optional (at most 200)");
        }
        TenantId tenant = call.tenant();
        String id = "ow-" + Secrets.randomHex(8);
        call.target("owner:" + id);
        long now = clock.nowMs();
        ApiTokens.Issued token = call.tx(h -> {
            String keyId = ownership.keys().create();
            Map<String, Object> profile = new LinkedHashMap<>();
            profile.put("name", req.name());
            profile.put("email", req.email());
            byte[] sealed = ownership.keys().seal(keyId, json(profile), id.getBytes(StandardCharsets.UTF_8));
            owners.insert(h, new OwnerStore.Owner(id, tenant, keyId, sealed, now));
            operators.create(h, tenant.value(), id, EnumSet.of(Role.OWNER), now);
            return apiTokens.issue(h, tenant.value(), id, tokenTtl.toMillis());
        }, "owner account");
        Map<String, Object> out = new LinkedHashMap<>();
        out.put("id", id);
        out.put("token", token.secret().reveal());
        out.put("tokenId", token.info().id());
        return Response.created(out);
    }

    private Response get(Call call) {
        String id = ownerId(call.path("ownerId"));
        mayAct(call, id);
        TenantId tenant = call.tenant();
        Map<String, Object> out = db.tx(h -> {
            OwnerStore.Owner row = owners.find(h, tenant, id).orElseThrow(Refusal::notFound);
            Map<String, Object> m = new LinkedHashMap<>();
            m.put("id", id);
            byte[] profile = ownership.keys().open(row.keyId(), row.sealedProfile(), id.getBytes(StandardCharsets.UTF_8))
                    .orElse(null);
            try {
                m.put("profile", profile == null ? null : JSON.readTree(profile));
            } catch (java.io.IOException e) {
                m.put("profile", null);
            }
            m.put("created", Views.time(row.createdMs()));
            List<Map<String, Object>> periods = new ArrayList<>();
            for (Ownership.Period p : ownership.ofOwner(h, tenant, id)) {
                Map<String, Object> pm = new LinkedHashMap<>();
                pm.put("device", p.device().value());
                pm.put("from", Views.time(p.startMs()));
                pm.put("to", p.endMs() == null ? null : Views.time(p.endMs()));
                periods.add(pm);
            }
            m.put("periods", periods);
            // personal data read by an operator: audited
            audit.append(h, new AuditEntry(tenant.value(), call.principal().actor(), "owner.read", "owner:" + id, call.source(),
                    AuditEntry.SUCCESS, "personal data read"));
            return m;
        });
        return Response.ok(out);
    }

    private Response delete(Call call) {
        String id = ownerId(call.path("ownerId"));
        mayAct(call, id);
        TenantId tenant = call.tenant();
        call.target("owner:" + id);
        List<String> destroy = new ArrayList<>();
        List<DeviceId> touched = new ArrayList<>();
        long[] deleted = new long[1];
        var telemetry = lifecycle.telemetry();
        telemetry.flush(); // the owner's messages still in the log become segments the deletion reaches
        try {
            deleteTx(call, tenant, id, destroy, touched, deleted);
        } finally {
            touched.forEach(d -> ownership.forget(tenant, d));
        }
        // after the commit: a failed transaction must not leave rows whose keys are gone
        List<DataKeys.Destruction> failed = new ArrayList<>();
        int destroyed = 0;
        for (String k : destroy) {
            DataKeys.Destruction d = ownership.keys().destroy(k, tenant.value() + " owner:" + id);
            if (d.destroyed()) {
                destroyed++;
            } else {
                failed.add(d);
            }
        }
        // messages sealed under those keys that committed while the deletion ran: nothing can open them; they go
        // too (and the compactor drops any that reach it later)
        if (!touched.isEmpty()) {
            telemetry.flush();
            db.tx(h -> {
                for (DeviceId d : new java.util.HashSet<>(touched)) {
                    deleted[0] += telemetry.deleteKeys(h, tenant.value(), d.value(), destroy);
                }
                return null;
            });
        }
        failed.addAll(lifecycle.deleteExports(tenant, id));
        Map<String, Object> out = new LinkedHashMap<>();
        out.put("id", id);
        out.put("keysDestroyed", destroyed);
        out.put("messagesDeleted", deleted[0]);
        if (failed.isEmpty()) {
            return Response.ok(out);
        }
        return keyDestructionFailed(call, tenant, id, out, failed);
    }

    /**
     * Some keys of a deleted owner are still on disk: the account and its rows are gone, but crypto-shredding is not
     * complete, and the answer says so (500, with the keys and reasons), as does the audit log (outcome failed). Those
     * keys are never used again and their destruction is retried (see {@link DataLifecycle#retryFailedDestructions}).
     */
    private Response keyDestructionFailed(Call call, TenantId tenant, String id, Map<String, Object> out,
                                          List<DataKeys.Destruction> failed) {
        org.slf4j.Logger log = org.slf4j.LoggerFactory.getLogger(OwnerRoutes.class);
        List<String> ids = failed.stream().map(DataKeys.Destruction::keyId).toList();
        String detail = "owner " + id + " deleted, but " + failed.size() + " data key(s) could not be destroyed and are still on disk: "
                + failed.stream().map(d -> d.keyId() + " (" + d.reason() + ")").collect(java.util.stream.Collectors.joining("; "));
        failed.forEach(d -> log.error("data key {} of deleted owner {} could not be destroyed: {}", d.keyId(), id, d.reason()));
        try {
            db.tx(h -> audit.append(h, new AuditEntry(tenant.value(), call.principal().actor(), "owner.delete.keys",
                    "owner:" + id, call.source(), "failed", detail.length() > 990 ? detail.substring(0, 990) + "..." : detail)));
        } catch (RuntimeException e) {
            log.error("cannot audit the failed key destruction of owner {}: {}", id, e.toString());
        }
        out.put("keysNotDestroyed", ids);
        Map<String, Object> problem = new LinkedHashMap<>();
        problem.put("type", "urn:bulwark:problem:key-destruction-failed");
        problem.put("title", "Key destruction failed");
        problem.put("status", 500);
        problem.put("detail", detail);
        problem.putAll(out);
        return new Response(500, problem);
    }

    private void deleteTx(Call call, TenantId tenant, String id, List<String> destroy, List<DeviceId> touched, long[] deleted) {
        var telemetry = lifecycle.telemetry();
        call.tx(h -> {
            String ownerKey = owners.lockKey(h, tenant, id).orElseThrow(Refusal::notFound);
            long now = clock.nowMs();
            for (Ownership.Period p : ownership.ofOwner(h, tenant, id)) {
                if (p.endMs() == null) {
                    devices.lock(h, tenant, p.device());
                    ownership.transfer(h, tenant, p.device(), null, now); // the device goes on, owned by nobody
                    // what it reported in the owner's period goes with the owner
                    periods.clearReportedConfig(h, tenant, p.device());
                }
                deleted[0] += telemetry.deleteKeys(h, tenant.value(), p.device().value(), List.of(p.keyId()));
                destroy.add(p.keyId());
                touched.add(p.device());
            }
            periods.deleteOfOwner(h, tenant, id);
            owners.delete(h, tenant, id);
            destroy.add(ownerKey);
            return null;
        }, "owner deleted");
    }

    private static byte[] json(Object o) {
        try {
            return JSON.writeValueAsBytes(o);
        } catch (com.fasterxml.jackson.core.JsonProcessingException e) {
            throw new IllegalStateException(e);
        }
    }
}
