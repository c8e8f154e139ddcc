package dev.bulwark.server.identity;

import dev.bulwark.protocol.TenantId;
import dev.bulwark.server.core.Refusal;
import java.util.Collections;
import java.util.Optional;
import java.util.Set;

/**
 * An authenticated operator: who they are, which tenant they belong to (none for platform operators),
 * what roles they hold, and which token they used.
 */
public record OperatorPrincipal(TenantId tenant, String name, Set<Role> roles, String tokenId) {

    /** The tenant_id value stored for platform operators; outside the tenant id grammar. */
    public static final String PLATFORM_SCOPE = "_platform";

    public OperatorPrincipal {
        roles = Collections.unmodifiableSet(roles);
    }

    public boolean isPlatform() {
        return tenant == null;
    }

    public Optional<TenantId> tenantId() {
        return Optional.ofNullable(tenant);
    }

    /** The tenant this operator acts in; refuses platform operators, who read no tenant data. */
    public TenantId requireTenant() {
        if (tenant == null) {
            throw Refusal.forbidden("platform operators have no access to tenant data");
        }
        return tenant;
    }

    public String scope() {
        return tenant == null ? PLATFORM_SCOPE : tenant.value();
    }

    /** How the actor is named in the audit log and security events. */
    public String actor() {
        return "operator:" + scope() + "/" + name + " token:" + tokenId;
    }

    public boolean has(Role role) {
        return roles.contains(role);
    }
}
