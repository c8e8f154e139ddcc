package dev.bulwark.server.lifecycle;

import static dev.bulwark.server.identity.Role.FLEET_OPERATOR;
import static dev.bulwark.server.identity.Role.OWNER;
import static dev.bulwark.server.identity.Role.TENANT_ADMIN;

import com.fasterxml.jackson.databind.ObjectMapper;
import dev.bulwark.protocol.DeviceId;
import dev.bulwark.protocol.TenantId;
import dev.bulwark.server.Refusal;
import dev.bulwark.server.Services;
import dev.bulwark.server.audit.AuditEntry;
import dev.bulwark.server.crypto.DataKeys;
import dev.bulwark.server.crypto.Secrets;
import dev.bulwark.server.http.ApiRoute;
import dev.bulwark.server.http.Call;
import dev.bulwark.server.http.Response;
import dev.bulwark.server.http.Views;
import dev.bulwark.server.identity.ApiTokens;
import dev.bulwark.server.identity.Role;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.EnumSet;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * Owners and the lifecycle of their data: accounts with their own tokens, ownership periods through device
 * transfers, and account deletion that destroys the keys of the owner's periods (crypto-shredding: the
 * rows go too, and a copy of the database taken before is left with ciphertext that nothing opens).
 */
public final class OwnerRoutes {
    private static final ObjectMapper JSON = new ObjectMapper();
    private final Services s;
    private final Ownership ownership;
    private final DataLifecycle lifecycle;

    public OwnerRoutes(Services s, Ownership ownership, DataLifecycle lifecycle) {
        this.s = s;
        this.ownership = ownership;
        this.lifecycle = lifecycle;
    }

    /** A retention setting. */
    public record Retention(Integer days) {
    }

    /** A new owner: personal data kept sealed under the owner's own key. */
    public record NewOwner(String name, String email) {
    }

    /** A transfer: the new owner, or null for none (back to stock). */
    public record Transfer(String owner) {
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
                        .roles(TENANT_ADMIN, OWNER).audit("owner.delete").handle(this::delete),
                ApiRoute.post("/api/v1/owners/{ownerId}/export", "exportOwnerData")
                        .summary("Export an owner's data (JSON Lines) in the background; poll the export for progress")
                        .roles(TENANT_ADMIN, OWNER).audit("owner.export").handle(this::export),
                ApiRoute.get("/api/v1/owners/{ownerId}/exports/{exportId}", "getExport").summary("An export's state and progress")
                        .roles(TENANT_ADMIN, OWNER).handle(this::exportState),
                ApiRoute.get("/api/v1/owners/{ownerId}/exports/{exportId}/download", "downloadExport")
                        .summary("The finished export, JSON Lines (operators' downloads are audited)")
                        .roles(TENANT_ADMIN, OWNER).handle(this::download),
                ApiRoute.put("/api/v1/tenants/{tenant}/retention", "setRetention")
                        .summary("How many days device data is kept (default 90); older data is deleted by a scheduled job")
                        .roles(TENANT_ADMIN).audit("tenant.retention.set").body("{\"days\":30}").handle(this::setRetention),
                ApiRoute.get("/api/v1/tenants/{tenant}/retention", "getRetention").summary("The tenant's retention")
                        .roles(TENANT_ADMIN, Role.AUDITOR).handle(this::getRetention),
                ApiRoute.post("/api/v1/devices/{deviceId}/transfer", "transferDevice")
                        .summary("Hand a device to a new owner (or none): a new period with a new key, and a factory reset")
                        .roles(TENANT_ADMIN, FLEET_OPERATOR).audit("device.transfer").body("{\"owner\":\"ow-0123456789abcdef\"}")
                        .handle(this::transfer));
    }

    private String ownTenant(Call call) {
        String t = call.path("tenant");
        if (!call.tenant().value().equals(t)) {
            throw Refusal.notFound();
        }
        return t;
    }

    private Response setRetention(Call call) {
        String t = ownTenant(call);
        Retention r = call.body(Retention.class);
        if (r.days() == null || r.days() < 1 || r.days() > 3650) {
            throw Refusal.invalid("days must be between 1 and 3650");
        }
        call.target("tenant:" + t);
        call.tx(h -> {
            lifecycle.setRetentionDays(h, t, r.days());
            return null;
        }, r.days() + " days");
        return Response.ok(Map.of("days", r.days()));
    }

    private Response getRetention(Call call) {
        String t = ownTenant(call);
        return Response.ok(Map.of("days", call.read(h -> lifecycle.retentionDays(h, t))));
    }

    private Response export(Call call) {
        String id = ownerId(call.path("ownerId"));
        mayAct(call, id);
        call.target("owner:" + id);
        call.tx(h -> h.createQuery("SELECT COUNT(*) FROM owners WHERE tenant_id = :t AND id = :id").bind("t", call.tenant().value())
                .bind("id", id).mapTo(Long.class).one() == 1 ? null : notFound());
        String exportId = lifecycle.startExport(call.tenant().value(), id);
        return new Response(202, Map.of("id", exportId, "state", "running", "status", "/api/v1/owners/" + id + "/exports/" + exportId));
    }

    private static Object notFound() {
        throw Refusal.notFound();
    }

    private Map<String, Object> exportRow(Call call) {
        String id = ownerId(call.path("ownerId"));
        mayAct(call, id);
        String exportId = call.path("exportId");
        if (exportId == null || !exportId.matches("ex-[0-9a-f]{16}")) {
            throw Refusal.notFound();
        }
        return lifecycle.export(call.tenant().value(), id, exportId).orElseThrow(Refusal::notFound);
    }

    private Response exportState(Call call) {
        Map<String, Object> row = exportRow(call);
        long total = ((Number) row.get("rows_total")).longValue();
        long done = ((Number) row.get("rows_done")).longValue();
        Map<String, Object> out = new LinkedHashMap<>();
        out.put("id", row.get("id"));
        out.put("state", row.get("state"));
        out.put("rows", done);
        out.put("progress", total == 0 ? ("done".equals(row.get("state")) ? 1.0 : 0.0) : Math.min(1.0, (double) done / total));
        return Response.ok(out);
    }

    private Response download(Call call) throws java.io.IOException {
        Map<String, Object> row = exportRow(call);
        if (!"done".equals(row.get("state"))) {
            throw Refusal.conflict("the export is " + row.get("state"));
        }
        if (!call.principal().roles().contains(OWNER)) {
            s.db().tx(h -> s.audit().append(h, new AuditEntry(call.tenant().value(), call.principal().actor(), "owner.export.download",
                    "owner:" + row.get("owner_id"), call.source(), AuditEntry.SUCCESS, "export " + row.get("id"))));
        }
        java.nio.file.Path file = lifecycle.exportFile((String) row.get("id"));
        if (!java.nio.file.Files.exists(file)) {
            throw Refusal.notFound();
        }
        return Response.stream("application/x-ndjson", lifecycle.openExport((String) row.get("id"))); // decrypted as it streams
    }

    private static String ownerId(String v) {
        if (v == null || !v.matches("ow-[0-9a-f]{16}")) {
            throw Refusal.notFound();
        }
        return v;
    }

    /** An owner may act on their own account only; operators of the tenant on any. */
    private static void mayAct(Call call, String ownerId) {
        if (call.principal().roles().contains(OWNER) && !call.principal().name().equals(ownerId)) {
            throw Refusal.notFound();
        }
    }

    private Response rotateToken(Call call) {
        String id = ownerId(call.path("ownerId"));
        mayAct(call, id);
        TenantId tenant = call.tenant();
        call.target("owner:" + id);
        record Rotated(ApiTokens.Issued token, int revoked) {
        }
        boolean exists = call.read(h -> h.createQuery("SELECT COUNT(*) FROM owners WHERE tenant_id = :t AND id = :id")
                .bind("t", tenant.value()).bind("id", id).mapTo(Long.class).one() > 0);
        if (!exists) {
            throw Refusal.notFound();
        }
        if (!call.principal().name().equals(id)) {
            // an operator minting an owner's token would read as the owner: only the owner replaces their own
            throw new Refusal(Refusal.Kind.FORBIDDEN, "only the owner replaces their token");
        }
        Rotated r = call.tx(h -> {
            ApiTokens.Issued t = s.apiTokens().issue(h, tenant.value(), id, s.config().operatorTokenTtl().toMillis());
            return new Rotated(t, s.apiTokens().revokeOthers(h, tenant.value(), id, t.info().id()));
        }, "the owner replaced their token");
        Map<String, Object> out = new LinkedHashMap<>();
        out.put("id", id);
        out.put("token", r.token().secret().reveal());
        out.put("tokenId", r.token().info().id());
        out.put("expiresAt", dev.bulwark.server.http.Views.time(r.token().info().expiresMs()));
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
        long now = s.clock().nowMs();
        ApiTokens.Issued token = call.tx(h -> {
            String keyId = ownership.keys().create();
            Map<String, Object> profile = new LinkedHashMap<>();
            profile.put("name", req.name());
            profile.put("email", req.email());
            byte[] sealed = ownership.keys().seal(keyId, json(profile), id.getBytes(StandardCharsets.UTF_8));
            h.createUpdate("INSERT INTO owners (id, tenant_id, key_id, profile, created_ms) VALUES (:id, :t, :k, :p, :now)")
                    .bind("id", id).bind("t", tenant.value()).bind("k", keyId).bind("p", sealed).bind("now", now).execute();
            s.operators().create(h, tenant.value(), id, EnumSet.of(Role.OWNER), now);
            return s.apiTokens().issue(h, tenant.value(), id, s.config().operatorTokenTtl().toMillis());
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
        Map<String, Object> out = s.db().tx(h -> {
            Map<String, Object> row = h.createQuery("SELECT key_id, profile, created_ms FROM owners WHERE tenant_id = :t AND id = :id")
                    .bind("t", tenant.value()).bind("id", id).mapToMap().findOne().orElseThrow(Refusal::notFound);
            Map<String, Object> m = new LinkedHashMap<>();
            m.put("id", id);
            byte[] profile = ownership.keys().open((String) row.get("key_id"), (byte[]) row.get("profile"), id.getBytes(StandardCharsets.UTF_8))
                    .orElse(null);
            try {
                m.put("profile", profile == null ? null : JSON.readTree(profile));
            } catch (java.io.IOException e) {
                m.put("profile", null);
            }
            m.put("created", Views.time(((Number) row.get("created_ms")).longValue()));
            List<Map<String, Object>> periods = new ArrayList<>();
            for (Ownership.Period p : ownership.ofOwner(h, tenant.value(), id)) {
                Map<String, Object> pm = new LinkedHashMap<>();
                pm.put("device", p.deviceId());
                pm.put("from", Views.time(p.startMs()));
                pm.put("to", p.endMs() == null ? null : Views.time(p.endMs()));
                periods.add(pm);
            }
            m.put("periods", periods);
            // personal data read by an operator: audited
            s.audit().append(h, new AuditEntry(tenant.value(), call.principal().actor(), "owner.read", "owner:" + id, call.source(),
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
        List<String> devices = new ArrayList<>();
        long[] deleted = new long[1];
        var telemetry = lifecycle.telemetry();
        telemetry.flush(); // the owner's messages still in the log become segments the deletion reaches
        try {
            deleteTx(call, tenant, id, destroy, devices, deleted);
        } finally {
            devices.forEach(d -> ownership.forget(tenant.value(), d));
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
        if (!devices.isEmpty()) {
            telemetry.flush();
            s.db().tx(h -> {
                for (String d : new java.util.HashSet<>(devices)) {
                    deleted[0] += telemetry.deleteKeys(h, tenant.value(), d, destroy);
                }
                return null;
            });
        }
        failed.addAll(lifecycle.deleteExports(tenant.value(), id));
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
            s.db().tx(h -> s.audit().append(h, new AuditEntry(tenant.value(), call.principal().actor(), "owner.delete.keys",
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

    private void deleteTx(Call call, TenantId tenant, String id, List<String> destroy, List<String> devices, long[] deleted) {
        var telemetry = lifecycle.telemetry();
        call.tx(h -> {
            String ownerKey = h.createQuery("SELECT key_id FROM owners WHERE tenant_id = :t AND id = :id FOR UPDATE")
                    .bind("t", tenant.value()).bind("id", id).mapTo(String.class).findOne().orElseThrow(Refusal::notFound);
            long now = s.clock().nowMs();
            for (Ownership.Period p : ownership.ofOwner(h, tenant.value(), id)) {
                if (p.endMs() == null) {
                    s.devices().lock(h, tenant, DeviceId.of(p.deviceId()));
                    ownership.transfer(h, tenant.value(), p.deviceId(), null, now); // the device goes on, owned by nobody
                    // what it reported in the owner's period goes with the owner
                    h.createUpdate("UPDATE device_config SET reported = NULL, reported_ms = NULL WHERE tenant_id = :t AND device_id = :d")
                            .bind("t", tenant.value()).bind("d", p.deviceId()).execute();
                }
                deleted[0] += telemetry.deleteKeys(h, tenant.value(), p.deviceId(), List.of(p.keyId()));
                destroy.add(p.keyId());
                devices.add(p.deviceId());
            }
            h.createUpdate("DELETE FROM ownership_periods WHERE tenant_id = :t AND owner_id = :o").bind("t", tenant.value()).bind("o", id).execute();
            h.createUpdate("DELETE FROM owners WHERE tenant_id = :t AND id = :id").bind("t", tenant.value()).bind("id", id).execute();
            h.createUpdate("DELETE FROM api_tokens WHERE tenant_id = :t AND operator_name = :o").bind("t", tenant.value()).bind("o", id).execute();
            h.createUpdate("DELETE FROM operators WHERE tenant_id = :t AND name = :o").bind("t", tenant.value()).bind("o", id).execute();
            destroy.add(ownerKey);
            return null;
        }, "owner deleted");
    }

    private Response transfer(Call call) {
        DeviceId device = call.path("deviceId", DeviceId::of);
        Transfer req = call.body(Transfer.class);
        TenantId tenant = call.tenant();
        String owner = req.owner() == null ? null : ownerId(req.owner());
        call.target("device:" + device);
        Ownership.Period p;
        String previousOwner = s.db().read(h -> ownership.open(h, tenant.value(), device.value()).map(Ownership.Period::ownerId).orElse(null));
        try {
            p = transferTx(call, tenant, device, owner);
        } finally {
            ownership.forget(tenant.value(), device.value()); // the next message reads the committed period
        }
        Map<String, Object> out = new LinkedHashMap<>();
        out.put("device", device.value());
        out.put("owner", owner);
        out.put("periodStart", Views.time(p.startMs()));
        out.put("factoryReset", "queued");
        if (previousOwner != null && !previousOwner.equals(owner)) {
            // the previous owner's period is closed: their data is offered to them as an export
            out.put("previousOwnerExport", lifecycle.startExport(tenant.value(), previousOwner));
        }
        return Response.ok(out);
    }

    private Ownership.Period transferTx(Call call, TenantId tenant, DeviceId device, String owner) {
        return call.tx(h -> {
            s.devices().lock(h, tenant, device);
            if (owner != null && h.createQuery("SELECT id FROM owners WHERE tenant_id = :t AND id = :id FOR UPDATE").bind("t", tenant.value())
                    .bind("id", owner).mapTo(String.class).findOne().isEmpty()) {
                throw Refusal.invalid("no such owner in this tenant");
            }
            ownership.current(h, tenant.value(), device.value(), s.clock().nowMs());
            // what the device reported belongs to the period that ends
            h.createUpdate("UPDATE device_config SET reported = NULL, reported_ms = NULL WHERE tenant_id = :t AND device_id = :d")
                    .bind("t", tenant.value()).bind("d", device.value()).execute();
            // the factory reset the device receives: its local data from the previous period goes too
            h.createUpdate("INSERT INTO commands (tenant_id, id, device_id, name, params, state, created_ms, expires_ms, created_by) "
                            + "VALUES (:t, :id, :d, 'factory-reset', '{}', 'queued', :now, :exp, :by)")
                    .bind("t", tenant.value()).bind("id", "cmd-" + Secrets.randomHex(10)).bind("d", device.value())
                    .bind("now", s.clock().nowMs()).bind("exp", s.clock().nowMs() + 7L * 86_400_000L).bind("by", call.principal().actor())
                    .execute();
            return ownership.transfer(h, tenant.value(), device.value(), owner, s.clock().nowMs());
        }, "to " + (owner == null ? "no owner" : owner));
    }

    private static byte[] json(Object o) {
        try {
            return JSON.writeValueAsBytes(o);
        } catch (com.fasterxml.jackson.core.JsonProcessingException e) {
            throw new IllegalStateException(e);
        }
    }
}
