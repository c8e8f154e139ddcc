package dev.bulwark.server.api;

import static dev.bulwark.server.identity.Role.AUDITOR;
import static dev.bulwark.server.identity.Role.PLATFORM_ADMIN;
import static dev.bulwark.server.identity.Role.SECURITY_ANALYST;
import static dev.bulwark.server.identity.Role.TENANT_ADMIN;

import dev.bulwark.server.core.Refusal;
import dev.bulwark.server.core.Views;
import dev.bulwark.server.http.ApiRoute;
import dev.bulwark.server.http.Call;
import dev.bulwark.server.http.Response;
import dev.bulwark.server.monitor.AlertStore;
import dev.bulwark.server.monitor.Metrics;
import dev.bulwark.server.monitor.SourceGuard;
import dev.bulwark.server.monitor.Webhooks;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Objects;

/**
 * Alerts, bans, alert webhooks and the metrics. A tenant's operators see the alerts attributed to their
 * tenant and the bans protecting it; platform admins see the alerts attributed to no tenant and the bans
 * protecting the platform or several tenants, and nothing of any one tenant.
 *
 * <p>Lifting a ban: a tenant's security analyst may lift a ban that protects only its tenant; a ban that
 * protects several tenants or the platform is a platform action (platform-admin). A refused lift is a 403,
 * recorded as a security event and audited as denied (by the API dispatcher).
 */
public final class MonitorRoutes {
    private final Metrics metrics;
    private final AlertStore alerts;
    private final SourceGuard guard;
    private final Webhooks webhooks;

    public MonitorRoutes(Metrics metrics, AlertStore alerts, SourceGuard guard, Webhooks webhooks) {
        this.metrics = metrics;
        this.alerts = alerts;
        this.guard = guard;
        this.webhooks = webhooks;
    }

    /** A request to register a webhook. */
    public record NewWebhook(String url) {
    }

    public List<ApiRoute> routes() {
        return List.of(
                ApiRoute.get("/api/v1/security/alerts", "listSecurityAlerts")
                        .summary("Read alerts (label, evidence, recommended action): the tenant's, or for platform admins those of no tenant")
                        .roles(SECURITY_ANALYST, TENANT_ADMIN, AUDITOR, PLATFORM_ADMIN).query("limit", "label").handle(this::alerts),
                ApiRoute.get("/api/v1/security/bans", "listSecurityBans").summary("Active bans of source addresses, with their reasons")
                        .roles(SECURITY_ANALYST, TENANT_ADMIN, AUDITOR, PLATFORM_ADMIN).handle(this::bans),
                ApiRoute.delete("/api/v1/security/bans/{banId}", "liftSecurityBan").summary("Lift a ban")
                        .roles(SECURITY_ANALYST, PLATFORM_ADMIN).audit("security.ban.lift").handle(this::lift),
                ApiRoute.post("/api/v1/security/webhooks", "createAlertWebhook")
                        .summary("Send the tenant's alerts to an HTTPS URL, signed with HMAC-SHA256 (secret shown once)")
                        .roles(SECURITY_ANALYST, TENANT_ADMIN).audit("security.webhook.create").body("{\"url\":\"https://siem.example.com/bulwark\"}")
                        .handle(this::createWebhook),
                ApiRoute.get("/api/v1/security/webhooks", "listAlertWebhooks").summary("The tenant's alert webhooks (no secrets)")
                        .roles(SECURITY_ANALYST, TENANT_ADMIN).handle(this::listWebhooks),
                ApiRoute.delete("/api/v1/security/webhooks/{webhookId}", "deleteAlertWebhook").summary("Remove an alert webhook")
                        .roles(SECURITY_ANALYST, TENANT_ADMIN).audit("security.webhook.delete").handle(this::deleteWebhook),
                ApiRoute.get("/metrics", "getMetrics").summary("Metrics of this node in the Prometheus text format")
                        .roles(PLATFORM_ADMIN).handle(call -> Response.text("text/plain; version=0.0.4; charset=utf-8",
                                metrics.scrape())));
    }

    private String scope(Call call) {
        return call.principal().isPlatform() ? null : call.tenant().value();
    }

    private Response alerts(Call call) {
        int limit = call.queryInt("limit", 100, 1, 1000);
        String label = call.query("label");
        if (label != null && !label.matches("[a-z-]{1,40}")) {
            throw Refusal.invalid("label must be one of retry, misconfigured-device, brute-force, enumeration, distributed-attack, "
                    + "cloned-device, flooding");
        }
        return Response.ok(Map.of("items", alerts.page(scope(call), label, Long.MAX_VALUE, limit)));
    }

    /** Whether the caller sees the ban: the tenant's when it protects the tenant, the platform's when it is no one tenant's. */
    private static boolean visible(SourceGuard.Ban b, String tenant) {
        return tenant == null ? b.tenantId() == null : b.scopes().contains(tenant);
    }

    private Response bans(Call call) {
        String tenant = scope(call);
        List<Map<String, Object>> items = guard.active().stream()
                .filter(b -> visible(b, tenant))
                .map(MonitorRoutes::view).toList();
        return Response.ok(Map.of("items", items));
    }

    private Response lift(Call call) {
        String id = call.path("banId", v -> {
            if (!v.matches("ban-[0-9a-f]{16}")) {
                throw new IllegalArgumentException();
            }
            return v;
        });
        call.target("ban:" + id);
        String tenant = scope(call);
        SourceGuard.Ban ban = guard.active().stream().filter(b -> b.id().equals(id))
                .filter(b -> visible(b, tenant))
                .findFirst().orElseThrow(Refusal::notFound);
        if (tenant != null && !Objects.equals(ban.tenantId(), tenant)) {
            throw Refusal.forbidden("the ban protects other tenants or the platform too: lifting it is a platform action (platform-admin)");
        }
        // audited first: if the audit cannot be written, the ban stays
        call.tx(h -> null, "lifted the ban of " + ban.address() + " (" + ban.label() + ")");
        guard.lift(ban.id());
        return Response.ok(view(ban));
    }

    private Response createWebhook(Call call) {
        NewWebhook req = call.body(NewWebhook.class);
        if (req.url() == null) {
            throw Refusal.invalid("url is required");
        }
        java.net.URI uri = webhooks.check(req.url());
        call.target("webhook");
        Map<String, Object> out = call.tx(h -> webhooks.create(h, call.tenant(), uri, call.principal().actor()),
                "webhook to host " + uri.getHost());
        return Response.created(out);
    }

    private Response listWebhooks(Call call) {
        return Response.ok(Map.of("items", webhooks.list(call.tenant())));
    }

    private Response deleteWebhook(Call call) {
        String id = call.path("webhookId", v -> {
            if (!v.matches("wh-[0-9a-f]{16}")) {
                throw new IllegalArgumentException();
            }
            return v;
        });
        call.target("webhook:" + id);
        call.tx(h -> {
            if (!webhooks.delete(h, call.tenant(), id)) {
                throw Refusal.notFound();
            }
            return null;
        });
        return Response.noContent();
    }

    static Map<String, Object> view(SourceGuard.Ban b) {
        Map<String, Object> m = new LinkedHashMap<>();
        m.put("id", b.id());
        m.put("sourceAddress", b.address());
        m.put("since", Views.time(b.sinceMs()));
        m.put("until", Views.time(b.untilMs()));
        m.put("label", b.label());
        m.put("reason", b.reason());
        m.put("tenant", b.tenantId());
        // never which other tenants a ban protects: only whether it is the tenant's alone
        m.put("scope", b.tenantId() != null ? "tenant" : b.scopes().size() > 1 ? "several-tenants" : "platform");
        m.put("alert", b.alertId());
        m.put("strike", b.strike());
        return m;
    }
}
