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

    public OwnerRoutes(Services s, Ownership ownership) {
        this.s = s;
        this.ownership = ownership;
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
                ApiRoute.get("/api/v1/owners/{ownerId}", "getOwner")
                        .summary("An owner's personal data and ownership periods (tenant-admin, every read audited; or the owner)")
                        .roles(TENANT_ADMIN, OWNER).handle(this::get),
                ApiRoute.delete("/api/v1/owners/{ownerId}", "deleteOwner")
                        .summary("Delete an owner account: the keys of its periods are destroyed and its data deleted")
                        .roles(TENANT_ADMIN, OWNER).audit("owner.delete").handle(this::delete),
                ApiRoute.post("/api/v1/devices/{deviceId}/transfer", "transferDevice")
                        .summary("Hand a device to a new owner (or none): a new period with a new key, and a factory reset")
                        .roles(TENANT_ADMIN, FLEET_OPERATOR).audit("device.transfer").body("{\"owner\":\"ow-0123456789abcdef\"}")
                        .handle(this::transfer));
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
        call.tx(h -> {
            String ownerKey = h.createQuery("SELECT key_id FROM owners WHERE tenant_id = :t AND id = :id FOR UPDATE")
                    .bind("t", tenant.value()).bind("id", id).mapTo(String.class).findOne().orElseThrow(Refusal::notFound);
            long now = s.clock().nowMs();
            for (Ownership.Period p : ownership.ofOwner(h, tenant.value(), id)) {
                if (p.endMs() == null) {
                    ownership.transfer(h, tenant.value(), p.deviceId(), null, now); // the device goes on, owned by nobody
                }
                deleted[0] += h.createUpdate("DELETE FROM device_messages WHERE key_id = :k").bind("k", p.keyId()).execute();
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
        // after the commit: a failed transaction must not leave rows whose keys are gone
        destroy.forEach(ownership.keys()::destroy);
        devices.forEach(d -> ownership.forget(tenant.value(), d));
        Map<String, Object> out = new LinkedHashMap<>();
        out.put("id", id);
        out.put("keysDestroyed", destroy.size());
        out.put("messagesDeleted", deleted[0]);
        return Response.ok(out);
    }

    private Response transfer(Call call) {
        DeviceId device = call.path("deviceId", DeviceId::of);
        Transfer req = call.body(Transfer.class);
        TenantId tenant = call.tenant();
        String owner = req.owner() == null ? null : ownerId(req.owner());
        call.target("device:" + device);
        Ownership.Period p;
        try {
            p = transferTx(call, tenant, device, owner);
        } catch (RuntimeException e) {
            ownership.forget(tenant.value(), device.value()); // the cache must not keep a period that was rolled back
            throw e;
        }
        Map<String, Object> out = new LinkedHashMap<>();
        out.put("device", device.value());
        out.put("owner", owner);
        out.put("periodStart", Views.time(p.startMs()));
        out.put("factoryReset", "queued");
        return Response.ok(out);
    }

    private Ownership.Period transferTx(Call call, TenantId tenant, DeviceId device, String owner) {
        return call.tx(h -> {
            s.devices().lock(h, tenant, device);
            if (owner != null && h.createQuery("SELECT COUNT(*) FROM owners WHERE tenant_id = :t AND id = :id").bind("t", tenant.value())
                    .bind("id", owner).mapTo(Long.class).one() == 0) {
                throw Refusal.invalid("no such owner in this tenant");
            }
            ownership.current(h, tenant.value(), device.value(), s.clock().nowMs());
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
