package dev.bulwark.server.api;

import static dev.bulwark.server.identity.Role.AUDITOR;
import static dev.bulwark.server.identity.Role.PLATFORM_ADMIN;
import static dev.bulwark.server.identity.Role.SECURITY_ANALYST;
import static dev.bulwark.server.identity.Role.TENANT_ADMIN;

import dev.bulwark.protocol.TenantId;
import dev.bulwark.server.audit.AuditLog;
import dev.bulwark.server.audit.AuditRecord;
import dev.bulwark.server.core.Views;
import dev.bulwark.server.http.ApiRoute;
import dev.bulwark.server.http.Call;
import dev.bulwark.server.http.Response;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/** Reading the audit log: tenant operators see their tenant's entries, platform admins the platform's. */
public final class AuditRoutes {
    private final AuditLog audit;

    public AuditRoutes(AuditLog audit) {
        this.audit = audit;
    }

    public List<ApiRoute> routes() {
        return List.of(ApiRoute.get("/api/v1/audit", "listAudit").summary("Read the audit log, newest first")
                .roles(TENANT_ADMIN, AUDITOR, SECURITY_ANALYST, PLATFORM_ADMIN).query("limit", "before").handle(this::list));
    }

    private Response list(Call call) {
        int limit = call.queryInt("limit", 100, 1, 1000);
        long before = call.queryInt("before", Integer.MAX_VALUE, 1, Integer.MAX_VALUE);
        TenantId tenant = call.principal().isPlatform() ? null : call.principal().tenant();
        var page = call.read(h -> audit.page(h, tenant, before, limit));
        Map<String, Object> out = new LinkedHashMap<>();
        out.put("items", page.stream().map(AuditRoutes::view).toList());
        out.put("nextBefore", page.size() == limit ? page.get(page.size() - 1).seq() : null);
        return Response.ok(out);
    }

    static Map<String, Object> view(AuditRecord r) {
        Map<String, Object> m = new LinkedHashMap<>();
        m.put("seq", r.seq());
        m.put("time", Views.time(r.timeMs()));
        m.put("actor", r.actor());
        m.put("action", r.action());
        m.put("target", r.target());
        m.put("source", r.source());
        m.put("outcome", r.outcome());
        m.put("detail", r.detail());
        m.put("hash", r.hash());
        m.put("prevHash", r.prevHash());
        return m;
    }
}
