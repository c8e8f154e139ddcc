package dev.bulwark.server.api;

import static dev.bulwark.server.identity.Role.AUDITOR;
import static dev.bulwark.server.identity.Role.PLATFORM_ADMIN;
import static dev.bulwark.server.identity.Role.SECURITY_ANALYST;
import static dev.bulwark.server.identity.Role.TENANT_ADMIN;

import dev.bulwark.server.http.ApiRoute;
import dev.bulwark.server.http.Call;
import dev.bulwark.server.http.Response;
import dev.bulwark.server.monitor.SecurityEventStore;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * Security events, newest first: a tenant's operators see their tenant's; platform admins see the events
 * no tenant could be attributed to (anonymous connects, unknown credentials, refused TLS handshakes), and
 * nothing of any tenant.
 */
public final class SecurityRoutes {
    private final SecurityEventStore events;

    public SecurityRoutes(SecurityEventStore events) {
        this.events = events;
    }

    public List<ApiRoute> routes() {
        return List.of(ApiRoute.get("/api/v1/security/events", "listSecurityEvents")
                .summary("Read security events: the tenant's, or for platform admins those attributed to no tenant")
                .roles(SECURITY_ANALYST, TENANT_ADMIN, AUDITOR, PLATFORM_ADMIN).query("limit", "before", "type").handle(this::list));
    }

    private Response list(Call call) {
        String tenant = call.principal().isPlatform() ? null : call.tenant().value();
        int limit = call.queryInt("limit", 100, 1, 1000);
        long before = call.queryInt("before", Integer.MAX_VALUE, 1, Integer.MAX_VALUE);
        String type = call.query("type");
        List<Map<String, Object>> rows = events.page(tenant, before, type, limit);
        Map<String, Object> out = new LinkedHashMap<>();
        out.put("items", rows);
        out.put("nextBefore", rows.size() == limit ? rows.get(rows.size() - 1).get("id") : null);
        return Response.ok(out);
    }
}
