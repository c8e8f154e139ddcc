package dev.bulwark.server.api;

import static dev.bulwark.server.identity.Role.AUDITOR;
import static dev.bulwark.server.identity.Role.FLEET_OPERATOR;
import static dev.bulwark.server.identity.Role.SECURITY_ANALYST;
import static dev.bulwark.server.identity.Role.TENANT_ADMIN;

import dev.bulwark.protocol.DeviceId;
import dev.bulwark.protocol.ModelId;
import dev.bulwark.protocol.TenantId;
import dev.bulwark.server.core.Clock;
import dev.bulwark.server.core.Refusal;
import dev.bulwark.server.core.Views;
import dev.bulwark.server.device.CredentialStore;
import dev.bulwark.server.device.DeviceStatus;
import dev.bulwark.server.device.DeviceStore;
import dev.bulwark.server.device.LiveSessions;
import dev.bulwark.server.http.ApiRoute;
import dev.bulwark.server.http.Call;
import dev.bulwark.server.http.Response;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/** The device registry: register, read, list, delete, disable and enable devices, quarantine them and lift it. */
public final class DeviceRoutes {
    record CreateDevice(String id, String model) {
    }

    private final Clock clock;
    private final DeviceStore devices;
    private final CredentialStore credentials;
    private final LiveSessions sessions;

    public DeviceRoutes(Clock clock, DeviceStore devices, CredentialStore credentials, LiveSessions sessions) {
        this.clock = clock;
        this.devices = devices;
        this.credentials = credentials;
        this.sessions = sessions;
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
                        .roles(TENANT_ADMIN, SECURITY_ANALYST).audit("device.quarantine.lift").handle(this::release));
    }

    private Response create(Call call) {
        TenantId tenant = call.tenant();
        CreateDevice req = call.body(CreateDevice.class);
        DeviceId id = IdentityRoutes.parse(() -> DeviceId.of(req.id()));
        ModelId model = IdentityRoutes.parse(() -> ModelId.of(req.model()));
        call.target("device:" + id);
        var d = call.tx(h -> devices.create(h, tenant, id, model, clock.nowMs()));
        return Response.created(view(d));
    }

    private Response list(Call call) {
        TenantId tenant = call.tenant();
        int limit = call.queryInt("limit", 100, 1, 1000);
        String after = Views.decodeCursor(call.query("cursor"));
        var list = call.read(h -> devices.list(h, tenant, after, limit));
        Map<String, Object> out = new LinkedHashMap<>();
        out.put("items", list.stream().map(DeviceRoutes::view).toList());
        out.put("nextCursor", list.size() == limit ? Views.cursor(list.get(list.size() - 1).id()) : null);
        return Response.ok(out);
    }

    private Response get(Call call) {
        TenantId tenant = call.tenant();
        DeviceId id = call.path("deviceId", DeviceId::of);
        return Response.ok(view(call.read(h -> devices.require(h, tenant, id))));
    }

    private Response delete(Call call) {
        TenantId tenant = call.tenant();
        DeviceId id = call.path("deviceId", DeviceId::of);
        call.target("device:" + id);
        call.tx(h -> {
            devices.lock(h, tenant, id);
            long now = clock.nowMs();
            credentials.revokeAll(h, tenant, id, "device deleted", now);
            devices.setStatus(h, tenant, id, DeviceStatus.DELETED, now);
            return null;
        });
        sessions.terminate(tenant, id, "device deleted");
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
            var current = devices.lock(h, tenant, id);
            if (current.status() == DeviceStatus.QUARANTINED) {
                throw Refusal.conflict("a quarantined device changes state only through its quarantine (DELETE …/quarantine)");
            }
            long now = clock.nowMs();
            devices.setStatus(h, tenant, id, target, now);
            return new DeviceStore.Device(current.tenantId(), current.id(), current.model(), target, current.createdMs(), now);
        });
        if (target != DeviceStatus.ACTIVE) {
            sessions.terminate(tenant, id, "device " + target.wireName());
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
            var current = devices.lock(h, tenant, id);
            if (current.status() == DeviceStatus.DELETED) {
                throw Refusal.notFound();
            }
            long now = clock.nowMs();
            if (current.status() != DeviceStatus.QUARANTINED) {
                devices.rememberStatusBeforeQuarantine(h, tenant, id, current.status());
            }
            devices.setStatus(h, tenant, id, DeviceStatus.QUARANTINED, now);
            if (revoke) {
                revoked[0] = credentials.revokeAll(h, tenant, id, "quarantine: " + req.reason(), now);
            }
            return new DeviceStore.Device(current.tenantId(), current.id(), current.model(), DeviceStatus.QUARANTINED, current.createdMs(), now);
        }, "quarantined: " + req.reason() + (revoke ? " (credentials revoked)" : ""));
        // after the commit, so that a reconnect cannot pass the status check in between
        sessions.terminate(tenant, id, "device quarantined");
        Map<String, Object> out = view(d);
        out.put("credentialsRevoked", revoked[0]);
        return Response.ok(out);
    }

    private Response release(Call call) {
        TenantId tenant = call.tenant();
        DeviceId id = call.path("deviceId", DeviceId::of);
        call.target("device:" + id);
        var d = call.tx(h -> {
            var current = devices.lock(h, tenant, id);
            if (current.status() != DeviceStatus.QUARANTINED) {
                throw Refusal.conflict("the device is not quarantined");
            }
            long now = clock.nowMs();
            // back to the state it had before the quarantine (a disabled device stays disabled)
            DeviceStatus back = devices.statusBeforeQuarantine(h, tenant, id).orElse(DeviceStatus.ACTIVE);
            devices.setStatus(h, tenant, id, back, now);
            return new DeviceStore.Device(current.tenantId(), current.id(), current.model(), back, current.createdMs(), now);
        }, "quarantine lifted");
        return Response.ok(view(d));
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
}
