package dev.bulwark.server.api;

import static dev.bulwark.server.api.OwnerIds.ownerId;
import static dev.bulwark.server.identity.Role.FLEET_OPERATOR;
import static dev.bulwark.server.identity.Role.TENANT_ADMIN;

import dev.bulwark.protocol.DeviceId;
import dev.bulwark.protocol.TenantId;
import dev.bulwark.server.core.Clock;
import dev.bulwark.server.core.Refusal;
import dev.bulwark.server.core.Views;
import dev.bulwark.server.crypto.Secrets;
import dev.bulwark.server.device.DeviceStore;
import dev.bulwark.server.http.ApiRoute;
import dev.bulwark.server.http.Call;
import dev.bulwark.server.http.Response;
import dev.bulwark.server.lifecycle.DataLifecycle;
import dev.bulwark.server.lifecycle.OwnerStore;
import dev.bulwark.server.ownership.PeriodStore;
import dev.bulwark.server.ownership.Ownership;
import dev.bulwark.server.store.Database;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * Device transfers: the device's period ends and one begins for the new owner (or none) under a new key;
 * what the device reported is cleared, a factory reset is queued for it, and the previous owner's data is
 * offered to them as an export.
 */
public final class TransferRoutes {
    private final Database db;
    private final Clock clock;
    private final DeviceStore devices;
    private final OwnerStore owners;
    private final PeriodStore periods;
    private final Ownership ownership;
    private final DataLifecycle lifecycle;

    public TransferRoutes(Database db, Clock clock, DeviceStore devices, OwnerStore owners, PeriodStore periods, Ownership ownership,
                          DataLifecycle lifecycle) {
        this.db = db;
        this.clock = clock;
        this.devices = devices;
        this.owners = owners;
        this.periods = periods;
        this.ownership = ownership;
        this.lifecycle = lifecycle;
    }

    /** A transfer: the new owner, or null for none (back to stock). */
    public record Transfer(String owner) {
    }

    public List<ApiRoute> routes() {
        return List.of(
                ApiRoute.post("/api/v1/devices/{deviceId}/transfer", "transferDevice")
                        .summary("Hand a device to a new owner (or none): a new period with a new key, and a factory reset")
                        .roles(TENANT_ADMIN, FLEET_OPERATOR).audit("device.transfer").body("{\"owner\":\"ow-0123456789abcdef\"}")
                        .handle(this::transfer));
    }

    private Response transfer(Call call) {
        DeviceId device = call.path("deviceId", DeviceId::of);
        Transfer req = call.body(Transfer.class);
        TenantId tenant = call.tenant();
        String owner = req.owner() == null ? null : ownerId(req.owner());
        call.target("device:" + device);
        Ownership.Period p;
        String previousOwner = db.read(h -> ownership.open(h, tenant, device).map(Ownership.Period::ownerId).orElse(null));
        try {
            p = transferTx(call, tenant, device, owner);
        } finally {
            ownership.forget(tenant, device); // the next message reads the committed period
        }
        Map<String, Object> out = new LinkedHashMap<>();
        out.put("device", device.value());
        out.put("owner", owner);
        out.put("periodStart", Views.time(p.startMs()));
        out.put("factoryReset", "queued");
        if (previousOwner != null && !previousOwner.equals(owner)) {
            // the previous owner's period is closed: their data is offered to them as an export
            out.put("previousOwnerExport", lifecycle.startExport(tenant, previousOwner));
        }
        return Response.ok(out);
    }

    private Ownership.Period transferTx(Call call, TenantId tenant, DeviceId device, String owner) {
        return call.tx(h -> {
            devices.lock(h, tenant, device);
            if (owner != null && !owners.lock(h, tenant, owner)) {
                throw Refusal.invalid("no such owner in this tenant");
            }
            ownership.current(h, tenant, device, clock.nowMs());
            // what the device reported belongs to the period that ends
            periods.clearReportedConfig(h, tenant, device);
            // the factory reset the device receives: its local data from the previous period goes too
            periods.queueFactoryReset(h, tenant, device, "cmd-" + Secrets.randomHex(10), clock.nowMs(), clock.nowMs() + 7L * 86_400_000L,
                    call.principal().actor());
            return ownership.transfer(h, tenant, device, owner, clock.nowMs());
        }, "to " + (owner == null ? "no owner" : owner));
    }
}
