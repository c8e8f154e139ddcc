package dev.bulwark.server.identity;

import dev.bulwark.server.core.Refusal;
import dev.bulwark.server.store.Sql;
import java.util.List;
import java.util.Optional;
import java.util.Set;
import org.jdbi.v3.core.Handle;
import org.jdbi.v3.core.JdbiException;

/** Operators, keyed by scope (a tenant id, or {@link OperatorPrincipal#PLATFORM_SCOPE}) and name. */
public final class OperatorStore {

    public record Operator(String scope, String name, Set<Role> roles, long createdMs) {
    }

    public Operator create(Handle h, String scope, String name, Set<Role> roles, long nowMs) {
        if (find(h, scope, name).isPresent()) {
            throw Refusal.conflict("an operator with this name already exists");
        }
        try {
            h.createUpdate("INSERT INTO operators (tenant_id, name, roles, created_ms) VALUES (:scope, :name, :roles, :now)")
                    .bind("scope", scope).bind("name", name).bind("roles", Role.encode(roles)).bind("now", nowMs).execute();
        } catch (JdbiException e) {
            if (Sql.isUniqueViolation(e)) {
                throw Refusal.conflict("an operator with this name already exists");
            }
            throw e;
        }
        return new Operator(scope, name, roles, nowMs);
    }

    public Optional<Operator> find(Handle h, String scope, String name) {
        return h.createQuery("SELECT tenant_id, name, roles, created_ms FROM operators WHERE tenant_id = :scope AND name = :name")
                .bind("scope", scope).bind("name", name)
                .map((rs, ctx) -> new Operator(rs.getString("tenant_id"), rs.getString("name"),
                        Role.decode(rs.getString("roles")), rs.getLong("created_ms")))
                .findOne();
    }

    public List<Operator> list(Handle h, String scope) {
        return h.createQuery("SELECT tenant_id, name, roles, created_ms FROM operators WHERE tenant_id = :scope ORDER BY name")
                .bind("scope", scope)
                .map((rs, ctx) -> new Operator(rs.getString("tenant_id"), rs.getString("name"),
                        Role.decode(rs.getString("roles")), rs.getLong("created_ms")))
                .list();
    }

    public boolean anyInScope(Handle h, String scope) {
        return h.createQuery("SELECT COUNT(*) FROM operators WHERE tenant_id = :scope").bind("scope", scope)
                .mapTo(Long.class).one() > 0;
    }
}
