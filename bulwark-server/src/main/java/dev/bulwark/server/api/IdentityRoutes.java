package dev.bulwark.server.api;

import static dev.bulwark.server.identity.Role.AUDITOR;
import static dev.bulwark.server.identity.Role.PLATFORM_ADMIN;
import static dev.bulwark.server.identity.Role.TENANT_ADMIN;

import dev.bulwark.protocol.IdGrammar;
import dev.bulwark.protocol.InvalidIdException;
import dev.bulwark.protocol.TenantId;
import dev.bulwark.server.core.Clock;
import dev.bulwark.server.core.Refusal;
import dev.bulwark.server.core.Views;
import dev.bulwark.server.http.ApiRoute;
import dev.bulwark.server.http.Call;
import dev.bulwark.server.http.Response;
import dev.bulwark.server.identity.ApiTokens;
import dev.bulwark.server.identity.OperatorPrincipal;
import dev.bulwark.server.identity.OperatorStore;
import dev.bulwark.server.identity.Role;
import dev.bulwark.server.identity.TenantStore;
import dev.bulwark.server.monitor.SecurityEvent;
import dev.bulwark.server.monitor.SecurityEvents;
import java.time.Duration;
import java.util.EnumSet;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;

/** Tenants, operators and operator API tokens. */
public final class IdentityRoutes {
    static final int MAX_TTL_DAYS = 365;

    record CreateTenant(String id, String name) {
    }

    record CreateOperator(String name, List<String> roles, Integer ttlDays) {
    }

    /** {@code reason}: required when a tenant admin issues a token for another operator (it is audited). */
    record CreateToken(Integer ttlDays, String reason) {
    }

    private final Clock clock;
    private final Duration operatorTokenTtl;
    private final TenantStore tenants;
    private final OperatorStore operators;
    private final ApiTokens apiTokens;
    private final SecurityEvents securityEvents;

    /** {@code operatorTokenTtl}: the validity of an operator token issued without {@code ttlDays}. */
    public IdentityRoutes(Clock clock, Duration operatorTokenTtl, TenantStore tenants, OperatorStore operators, ApiTokens apiTokens,
                          SecurityEvents securityEvents) {
        this.clock = clock;
        this.operatorTokenTtl = operatorTokenTtl;
        this.tenants = tenants;
        this.operators = operators;
        this.apiTokens = apiTokens;
        this.securityEvents = securityEvents;
    }

    public List<ApiRoute> routes() {
        return List.of(
                ApiRoute.post("/api/v1/tenants", "createTenant").summary("Create a tenant")
                        .roles(PLATFORM_ADMIN).audit("tenant.create").body("{\"id\":\"acme\",\"name\":\"Acme\"}")
                        .handle(this::createTenant),
                ApiRoute.get("/api/v1/tenants", "listTenants").summary("List tenants")
                        .roles(PLATFORM_ADMIN).query("limit", "cursor").handle(this::listTenants),
                ApiRoute.get("/api/v1/tenants/{tenant}", "getTenant").summary("Read a tenant")
                        .roles(EnumSet.allOf(Role.class)).handle(this::getTenant),
                ApiRoute.post("/api/v1/tenants/{tenant}/operators", "createOperator").summary("Create an operator and their first API token")
                        .roles(PLATFORM_ADMIN, TENANT_ADMIN).audit("operator.create")
                        .body("{\"name\":\"alice\",\"roles\":[\"tenant-admin\"]}").handle(this::createOperator),
                ApiRoute.get("/api/v1/tenants/{tenant}/operators", "listOperators").summary("List a tenant's operators")
                        .roles(PLATFORM_ADMIN, TENANT_ADMIN, AUDITOR).handle(this::listOperators),
                ApiRoute.post("/api/v1/tenants/{tenant}/operators/{operator}/tokens", "createOperatorToken")
                        .summary("Issue another API token: an operator for themselves, or a tenant admin for another operator of the "
                                + "tenant with a reason (audited as token.create.on-behalf, recorded as a security event); never a platform admin")
                        .roles(TENANT_ADMIN, Role.FLEET_OPERATOR, Role.FIRMWARE_PUBLISHER, Role.SECURITY_ANALYST, AUDITOR)
                        .audit("token.create").body("{\"ttlDays\":30}").handle(this::createOperatorToken),
                ApiRoute.get("/api/v1/tokens", "listTokens").summary("List API tokens (metadata only) visible to the caller")
                        .roles(EnumSet.allOf(Role.class)).handle(this::listTokens),
                ApiRoute.delete("/api/v1/tokens/{tokenId}", "revokeToken").summary("Revoke an API token")
                        .roles(EnumSet.allOf(Role.class)).audit("token.revoke").handle(this::revokeToken));
    }

    private Response createTenant(Call call) {
        CreateTenant req = call.body(CreateTenant.class);
        TenantId id = parse(() -> TenantId.of(req.id()));
        String name = name(req.name());
        call.target("tenant:" + id);
        var t = call.tx(h -> tenants.create(h, id, name, clock.nowMs()));
        return Response.created(tenantView(t));
    }

    private Response listTenants(Call call) {
        int limit = call.queryInt("limit", 100, 1, 1000);
        String after = Views.decodeCursor(call.query("cursor"));
        var list = call.read(h -> tenants.list(h, after, limit));
        Map<String, Object> out = new LinkedHashMap<>();
        out.put("items", list.stream().map(IdentityRoutes::tenantView).toList());
        out.put("nextCursor", list.size() == limit ? Views.cursor(list.get(list.size() - 1).id()) : null);
        return Response.ok(out);
    }

    private Response getTenant(Call call) {
        TenantId id = visibleTenant(call);
        return Response.ok(tenantView(call.read(h -> tenants.find(h, id)).orElseThrow(Refusal::notFound)));
    }

    private Response createOperator(Call call) {
        TenantId tenant = visibleTenant(call);
        CreateOperator req = call.body(CreateOperator.class);
        String name = parse(() -> IdGrammar.lowerName("name", req.name()));
        Set<Role> roles = tenantRoles(req.roles());
        long ttlMs = ttl(req.ttlDays());
        call.target("operator:" + tenant + "/" + name);
        boolean platform = call.principal().isPlatform();
        ApiTokens.Issued issued = call.tx(h -> {
            tenants.find(h, tenant).orElseThrow(Refusal::notFound);
            if (platform) {
                // A platform admin provisions a tenant's first operator and nothing more: an operator it created
                // later would hand it the tenant's data through a tenant token.
                if (operators.anyInScope(h, tenant.value())) {
                    throw new Refusal(Refusal.Kind.FORBIDDEN, "a platform admin creates only a tenant's first operator; "
                            + "the tenant's own admins create the others");
                }
                call.auditAlsoIn(h, tenant, "operator.create", "by the platform: the tenant's first operator, roles=" + Role.encode(roles));
            }
            operators.create(h, tenant.value(), name, roles, clock.nowMs());
            return apiTokens.issue(h, tenant.value(), name, ttlMs);
        }, "roles=" + Role.encode(roles));
        Map<String, Object> out = new LinkedHashMap<>();
        out.put("tenant", tenant.value());
        out.put("name", name);
        out.put("roles", roles.stream().sorted().map(Role::wireName).toList());
        out.put("token", issued.secret().reveal());
        out.put("tokenId", issued.info().id());
        out.put("expiresAt", Views.time(issued.info().expiresMs()));
        return Response.created(out);
    }

    private Response listOperators(Call call) {
        TenantId tenant = visibleTenant(call);
        var ops = call.read(h -> operators.list(h, tenant.value()));
        return Response.ok(Map.of("items", ops.stream().map(o -> {
            Map<String, Object> m = new LinkedHashMap<>();
            m.put("name", o.name());
            m.put("roles", o.roles().stream().sorted().map(Role::wireName).toList());
            m.put("createdAt", Views.time(o.createdMs()));
            return m;
        }).toList()));
    }

    private Response createOperatorToken(Call call) {
        TenantId tenant = visibleTenant(call);
        String name = call.path("operator", v -> IdGrammar.lowerName("operator", v));
        CreateToken req = call.body(CreateToken.class);
        long ttlMs = ttl(req.ttlDays());
        OperatorPrincipal p = call.principal();
        boolean self = name.equals(p.name());
        if (!self && !p.has(TENANT_ADMIN)) {
            throw Refusal.notFound(); // another operator's tokens are not theirs to see or mint
        }
        String reason = self ? null : onBehalfReason(req.reason());
        call.target("operator:" + tenant + "/" + name);
        ApiTokens.Issued issued = call.tx(h -> {
            operators.find(h, tenant.value(), name).orElseThrow(Refusal::notFound);
            ApiTokens.Issued t = apiTokens.issue(h, tenant.value(), name, ttlMs);
            if (!self) {
                // an explicit act of impersonation: in the tenant's audit log under its own name, with the reason
                call.auditAlsoIn(h, tenant, "token.create.on-behalf", "token " + t.info().id() + " for " + name + "; reason: " + reason);
            }
            return t;
        }, self ? null : "on behalf of " + name);
        if (!self) {
            securityEvents.record(new SecurityEvent(clock.nowMs(), tenant.value(),
                    "operator-token-issued-on-behalf", "a tenant admin issued a token for another operator: " + reason,
                    p.actor(), call.sourceAddress(), call.sourcePort(), "api", "operator:" + name + " token:" + issued.info().id()));
        }
        Map<String, Object> out = new LinkedHashMap<>();
        out.put("name", name);
        out.put("token", issued.secret().reveal());
        out.put("tokenId", issued.info().id());
        out.put("expiresAt", Views.time(issued.info().expiresMs()));
        return Response.created(out);
    }

    private Response listTokens(Call call) {
        OperatorPrincipal p = call.principal();
        boolean admin = p.has(TENANT_ADMIN) || p.has(PLATFORM_ADMIN);
        var list = call.read(h -> apiTokens.list(h, p.scope(), admin ? null : p.name()));
        return Response.ok(Map.of("items", list.stream().map(IdentityRoutes::tokenView).toList()));
    }

    /**
     * Revokes a token. Every operator may revoke their own tokens; a tenant admin any token of the
     * tenant; a platform admin any token (incident response; revoking reads no tenant data). Tokens the
     * caller may not revoke are answered 404.
     */
    private Response revokeToken(Call call) {
        String id = call.path("tokenId", v -> {
            if (!v.matches("[0-9a-f]{16}")) {
                throw new IllegalArgumentException();
            }
            return v;
        });
        OperatorPrincipal p = call.principal();
        call.target("token:" + id);
        call.tx(h -> {
            var t = (p.has(PLATFORM_ADMIN) ? apiTokens.findAnyScope(h, id) : apiTokens.find(h, p.scope(), id)).orElseThrow(Refusal::notFound);
            boolean own = t.scope().equals(p.scope()) && t.operator().equals(p.name());
            boolean tenantAdmin = p.has(TENANT_ADMIN) && t.scope().equals(p.scope());
            if (!(own || tenantAdmin || p.has(PLATFORM_ADMIN))) {
                throw Refusal.notFound();
            }
            apiTokens.revoke(h, t.scope(), id);
            return null;
        });
        return Response.noContent();
    }

    private static String onBehalfReason(String reason) {
        if (reason == null || reason.isBlank()) {
            throw Refusal.invalid("issuing a token for another operator needs a \"reason\" (it is audited and recorded as a security event)");
        }
        return name(reason.strip());
    }

    /** The tenant named in the path, if the caller may see it: platform admins see all, others only their own. */
    private static TenantId visibleTenant(Call call) {
        TenantId t = call.path("tenant", TenantId::of);
        OperatorPrincipal p = call.principal();
        if (!p.isPlatform() && !t.equals(p.tenant())) {
            throw Refusal.notFound();
        }
        return t;
    }

    private static Set<Role> tenantRoles(List<String> names) {
        if (names == null || names.isEmpty()) {
            throw Refusal.invalid("roles must list at least one role");
        }
        Set<Role> roles = EnumSet.noneOf(Role.class);
        for (String n : names) {
            Role r = Role.fromWire(n);
            if (r == PLATFORM_ADMIN) {
                throw Refusal.invalid("tenant operators cannot hold the platform-admin role");
            }
            if (r == Role.OWNER) {
                throw Refusal.invalid("the owner role comes with an owner account (POST /api/v1/owners), not with an operator");
            }
            roles.add(r);
        }
        return roles;
    }

    private long ttl(Integer days) {
        if (days == null) {
            return operatorTokenTtl.toMillis();
        }
        if (days < 1 || days > MAX_TTL_DAYS) {
            throw Refusal.invalid("ttlDays must be between 1 and " + MAX_TTL_DAYS);
        }
        return days * 86_400_000L;
    }

    public static String name(String name) {
        if (name == null || name.isBlank()) {
            throw Refusal.invalid("name is required");
        }
        if (name.length() > 200 || !name.codePoints().allMatch(c -> c >= 0x20 && c != 0x7f && !Character.isISOControl(c))) {
            throw Refusal.invalid("name must be at most 200 printable characters");
        }
        return name;
    }

    public static <T> T parse(java.util.function.Supplier<T> parser) {
        try {
            return parser.get();
        } catch (InvalidIdException e) {
            throw Refusal.invalid(e.getMessage());
        }
    }

    static Map<String, Object> tenantView(TenantStore.Tenant t) {
        Map<String, Object> m = new LinkedHashMap<>();
        m.put("id", t.id());
        m.put("name", t.name());
        m.put("createdAt", Views.time(t.createdMs()));
        return m;
    }

    static Map<String, Object> tokenView(ApiTokens.TokenInfo t) {
        Map<String, Object> m = new LinkedHashMap<>();
        m.put("id", t.id());
        m.put("operator", t.operator());
        m.put("createdAt", Views.time(t.createdMs()));
        m.put("expiresAt", Views.time(t.expiresMs()));
        m.put("revokedAt", Views.time(t.revokedMs()));
        return m;
    }
}
