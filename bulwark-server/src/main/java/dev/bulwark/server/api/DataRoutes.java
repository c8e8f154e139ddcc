package dev.bulwark.server.api;

import static dev.bulwark.server.api.OwnerIds.mayAct;
import static dev.bulwark.server.api.OwnerIds.ownerId;
import static dev.bulwark.server.identity.Role.OWNER;
import static dev.bulwark.server.identity.Role.TENANT_ADMIN;

import dev.bulwark.protocol.TenantId;
import dev.bulwark.server.audit.AuditEntry;
import dev.bulwark.server.audit.AuditLog;
import dev.bulwark.server.core.Refusal;
import dev.bulwark.server.http.ApiRoute;
import dev.bulwark.server.http.Call;
import dev.bulwark.server.http.Response;
import dev.bulwark.server.identity.Role;
import dev.bulwark.server.lifecycle.DataLifecycle;
import dev.bulwark.server.lifecycle.ExportState;
import dev.bulwark.server.lifecycle.LifecycleStore;
import dev.bulwark.server.lifecycle.OwnerStore;
import dev.bulwark.server.store.Database;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/** The lifecycle of owners' data over REST: exports (right of access) and each tenant's retention. */
public final class DataRoutes {
    private final Database db;
    private final AuditLog audit;
    private final OwnerStore owners;
    private final DataLifecycle lifecycle;

    public DataRoutes(Database db, AuditLog audit, OwnerStore owners, DataLifecycle lifecycle) {
        this.db = db;
        this.audit = audit;
        this.owners = owners;
        this.lifecycle = lifecycle;
    }

    /** A retention setting. */
    public record Retention(Integer days) {
    }

    public List<ApiRoute> routes() {
        return List.of(
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
                        .roles(TENANT_ADMIN, Role.AUDITOR).handle(this::getRetention));
    }

    private static TenantId ownTenant(Call call) {
        String t = call.path("tenant");
        if (!call.tenant().value().equals(t)) {
            throw Refusal.notFound();
        }
        return call.tenant();
    }

    private Response setRetention(Call call) {
        TenantId t = ownTenant(call);
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
        TenantId t = ownTenant(call);
        return Response.ok(Map.of("days", call.read(h -> lifecycle.retentionDays(h, t))));
    }

    private Response export(Call call) {
        String id = ownerId(call.path("ownerId"));
        mayAct(call, id);
        call.target("owner:" + id);
        TenantId tenant = call.tenant();
        call.tx(h -> owners.exists(h, tenant, id) ? null : notFound());
        String exportId = lifecycle.startExport(tenant, id);
        return new Response(202, Map.of("id", exportId, "state", ExportState.RUNNING.wireName(),
                "status", "/api/v1/owners/" + id + "/exports/" + exportId));
    }

    private static Object notFound() {
        throw Refusal.notFound();
    }

    private LifecycleStore.Export exportRow(Call call) {
        String id = ownerId(call.path("ownerId"));
        mayAct(call, id);
        String exportId = call.path("exportId");
        if (exportId == null || !exportId.matches("ex-[0-9a-f]{16}")) {
            throw Refusal.notFound();
        }
        return lifecycle.export(call.tenant(), id, exportId).orElseThrow(Refusal::notFound);
    }

    private Response exportState(Call call) {
        LifecycleStore.Export row = exportRow(call);
        long total = row.rowsTotal();
        long done = row.rowsDone();
        Map<String, Object> out = new LinkedHashMap<>();
        out.put("id", row.id());
        out.put("state", row.state().wireName());
        out.put("rows", done);
        out.put("progress", total == 0 ? (row.state() == ExportState.DONE ? 1.0 : 0.0) : Math.min(1.0, (double) done / total));
        return Response.ok(out);
    }

    private Response download(Call call) throws java.io.IOException {
        LifecycleStore.Export row = exportRow(call);
        if (row.state() != ExportState.DONE) {
            throw Refusal.conflict("the export is " + row.state().wireName());
        }
        if (!call.principal().roles().contains(OWNER)) {
            db.tx(h -> audit.append(h, new AuditEntry(call.tenant().value(), call.principal().actor(), "owner.export.download",
                    "owner:" + row.ownerId(), call.source(), AuditEntry.SUCCESS, "export " + row.id())));
        }
        java.nio.file.Path file = lifecycle.exportFile(row.id());
        if (!java.nio.file.Files.exists(file)) {
            throw Refusal.notFound();
        }
        return Response.stream("application/x-ndjson", lifecycle.openExport(row.id())); // decrypted as it streams
    }
}
