package dev.bulwark.server.identity;

import dev.bulwark.protocol.TenantId;
import dev.bulwark.server.core.Refusal;
import dev.bulwark.server.store.Sql;
import java.util.List;
import java.util.Optional;
import org.jdbi.v3.core.Handle;
import org.jdbi.v3.core.JdbiException;

/** Tenants. Platform-level data: holds no tenant's confidential content. */
public final class TenantStore {

    public record Tenant(String id, String name, long createdMs) {
    }

    public Tenant create(Handle h, TenantId id, String name, long nowMs) {
        if (find(h, id).isPresent()) {
            throw Refusal.conflict("a tenant with this id already exists");
        }
        try {
            h.createUpdate("INSERT INTO tenants (id, name, created_ms) VALUES (:id, :name, :now)")
                    .bind("id", id.value()).bind("name", name).bind("now", nowMs).execute();
        } catch (JdbiException e) {
            if (Sql.isUniqueViolation(e)) {
                throw Refusal.conflict("a tenant with this id already exists");
            }
            throw e;
        }
        return new Tenant(id.value(), name, nowMs);
    }

    public Optional<Tenant> find(Handle h, TenantId id) {
        return h.createQuery("SELECT id, name, created_ms FROM tenants WHERE id = :id").bind("id", id.value())
                .map((rs, ctx) -> new Tenant(rs.getString("id"), rs.getString("name"), rs.getLong("created_ms")))
                .findOne();
    }

    public List<Tenant> list(Handle h, String afterId, int limit) {
        return h.createQuery("SELECT id, name, created_ms FROM tenants WHERE id > :after ORDER BY id LIMIT :limit")
                .bind("after", afterId).bind("limit", limit)
                .map((rs, ctx) -> new Tenant(rs.getString("id"), rs.getString("name"), rs.getLong("created_ms")))
                .list();
    }
}
