package dev.bulwark.server.lifecycle;

import dev.bulwark.protocol.TenantId;
import java.util.Optional;
import org.jdbi.v3.core.Handle;

/**
 * The {@code owners} table (the owner's profile sealed under the owner's own key), and the deletion of an
 * owner's operator account with its tokens. Every statement is keyed by tenant.
 */
public final class OwnerStore {

    /** An owner's row: the id of its key and its sealed profile. */
    public record Owner(String id, TenantId tenant, String keyId, byte[] sealedProfile, long createdMs) {
    }

    public void insert(Handle h, Owner o) {
        h.createUpdate("INSERT INTO owners (id, tenant_id, key_id, profile, created_ms) VALUES (:id, :t, :k, :p, :now)")
                .bind("id", o.id()).bind("t", o.tenant().value()).bind("k", o.keyId()).bind("p", o.sealedProfile()).bind("now", o.createdMs())
                .execute();
    }

    public boolean exists(Handle h, TenantId tenant, String id) {
        return h.createQuery("SELECT COUNT(*) FROM owners WHERE tenant_id = :t AND id = :id").bind("t", tenant.value())
                .bind("id", id).mapTo(Long.class).one() > 0;
    }

    /** Whether the owner exists, locking its row for the transaction. */
    public boolean lock(Handle h, TenantId tenant, String id) {
        return h.createQuery("SELECT id FROM owners WHERE tenant_id = :t AND id = :id FOR UPDATE").bind("t", tenant.value())
                .bind("id", id).mapTo(String.class).findOne().isPresent();
    }

    public Optional<Owner> find(Handle h, TenantId tenant, String id) {
        return h.createQuery("SELECT key_id, profile, created_ms FROM owners WHERE tenant_id = :t AND id = :id")
                .bind("t", tenant.value()).bind("id", id)
                .map((rs, ctx) -> new Owner(id, tenant, rs.getString("key_id"), rs.getBytes("profile"), rs.getLong("created_ms"))).findOne();
    }

    /** The id of the owner's key, locking its row for the transaction. */
    public Optional<String> lockKey(Handle h, TenantId tenant, String id) {
        return h.createQuery("SELECT key_id FROM owners WHERE tenant_id = :t AND id = :id FOR UPDATE")
                .bind("t", tenant.value()).bind("id", id).mapTo(String.class).findOne();
    }

    /** Deletes the owner's row, its API tokens and its operator account (its periods go first, through {@link dev.bulwark.server.ownership.PeriodStore}). */
    public void delete(Handle h, TenantId tenant, String id) {
        h.createUpdate("DELETE FROM owners WHERE tenant_id = :t AND id = :id").bind("t", tenant.value()).bind("id", id).execute();
        h.createUpdate("DELETE FROM api_tokens WHERE tenant_id = :t AND operator_name = :o").bind("t", tenant.value()).bind("o", id).execute();
        h.createUpdate("DELETE FROM operators WHERE tenant_id = :t AND name = :o").bind("t", tenant.value()).bind("o", id).execute();
    }
}
