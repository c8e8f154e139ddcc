package dev.bulwark.server.device;

import dev.bulwark.protocol.DeviceId;
import dev.bulwark.protocol.ModelId;
import dev.bulwark.protocol.TenantId;
import dev.bulwark.server.core.Refusal;
import dev.bulwark.server.store.Sql;
import java.util.List;
import java.util.Optional;
import org.jdbi.v3.core.Handle;
import org.jdbi.v3.core.JdbiException;
import org.jdbi.v3.core.mapper.RowMapper;

/**
 * The device registry. Every statement is keyed by tenant. Deleted devices keep their row (status
 * {@code deleted}) as evidence and so that their id is never handed to a different device; they are
 * invisible to every read.
 */
public final class DeviceStore {

    public record Device(String tenantId, String id, String model, DeviceStatus status, long createdMs, long updatedMs) {
    }

    private static final RowMapper<Device> MAPPER = (rs, ctx) -> new Device(rs.getString("tenant_id"), rs.getString("id"),
            rs.getString("model"), DeviceStatus.fromWire(rs.getString("status")), rs.getLong("created_ms"), rs.getLong("updated_ms"));

    public Device create(Handle h, TenantId tenant, DeviceId id, ModelId model, long nowMs) {
        Optional<Device> existing = findIncludingDeleted(h, tenant, id);
        if (existing.isPresent()) {
            throw Refusal.conflict(existing.get().status() == DeviceStatus.DELETED
                    ? "this device id belonged to a deleted device and cannot be reused"
                    : "a device with this id already exists");
        }
        try {
            h.createUpdate("INSERT INTO devices (tenant_id, id, model, status, created_ms, updated_ms) VALUES (:t, :id, :model, :status, :now, :now)")
                    .bind("t", tenant.value()).bind("id", id.value()).bind("model", model.value())
                    .bind("status", DeviceStatus.ACTIVE.wireName()).bind("now", nowMs).execute();
        } catch (JdbiException e) {
            if (Sql.isUniqueViolation(e)) {
                throw Refusal.conflict("a device with this id already exists");
            }
            throw e;
        }
        return new Device(tenant.value(), id.value(), model.value(), DeviceStatus.ACTIVE, nowMs, nowMs);
    }

    /** A visible (not deleted) device of the tenant. */
    public Optional<Device> find(Handle h, TenantId tenant, DeviceId id) {
        return findIncludingDeleted(h, tenant, id).filter(d -> d.status() != DeviceStatus.DELETED);
    }

    /** Like {@link #find}, but refuses with 404 when absent. */
    public Device require(Handle h, TenantId tenant, DeviceId id) {
        return find(h, tenant, id).orElseThrow(Refusal::notFound);
    }

    /** Locks the device row for the rest of the transaction; 404 when absent or deleted. */
    public Device lock(Handle h, TenantId tenant, DeviceId id) {
        return h.createQuery("SELECT * FROM devices WHERE tenant_id = :t AND id = :id FOR UPDATE")
                .bind("t", tenant.value()).bind("id", id.value()).map(MAPPER).findOne()
                .filter(d -> d.status() != DeviceStatus.DELETED).orElseThrow(Refusal::notFound);
    }

    private Optional<Device> findIncludingDeleted(Handle h, TenantId tenant, DeviceId id) {
        return h.createQuery("SELECT * FROM devices WHERE tenant_id = :t AND id = :id")
                .bind("t", tenant.value()).bind("id", id.value()).map(MAPPER).findOne();
    }

    /** Devices of the tenant with id greater than {@code afterId}, in id order. */
    public List<Device> list(Handle h, TenantId tenant, String afterId, int limit) {
        return h.createQuery("SELECT * FROM devices WHERE tenant_id = :t AND status <> :deleted AND id > :after ORDER BY id LIMIT :limit")
                .bind("t", tenant.value()).bind("deleted", DeviceStatus.DELETED.wireName()).bind("after", afterId).bind("limit", limit).map(MAPPER).list();
    }

    /** The status of the device, deleted included; empty when the tenant has no device with this id. */
    public Optional<DeviceStatus> status(Handle h, TenantId tenant, DeviceId id) {
        return h.createQuery("SELECT status FROM devices WHERE tenant_id = :t AND id = :id")
                .bind("t", tenant.value()).bind("id", id.value()).mapTo(String.class).findOne().map(DeviceStatus::fromWire);
    }

    /** True when {@code id} is a registered (not deleted) device of {@code tenant}. */
    public boolean isRegistered(Handle h, TenantId tenant, DeviceId id) {
        return h.createQuery("SELECT COUNT(*) FROM devices WHERE tenant_id = :t AND id = :id AND status <> :deleted")
                .bind("t", tenant.value()).bind("id", id.value()).bind("deleted", DeviceStatus.DELETED.wireName())
                .mapTo(Long.class).one() > 0;
    }

    /** Remembers the status a device had before it was quarantined, to return to it when the quarantine is lifted. */
    public void rememberStatusBeforeQuarantine(Handle h, TenantId tenant, DeviceId id, DeviceStatus from) {
        h.createUpdate("UPDATE devices SET quarantined_from = :from WHERE tenant_id = :t AND id = :id")
                .bind("from", from.wireName()).bind("t", tenant.value()).bind("id", id.value()).execute();
    }

    /** The status the device had before its quarantine; empty when none was remembered. */
    public Optional<DeviceStatus> statusBeforeQuarantine(Handle h, TenantId tenant, DeviceId id) {
        return h.createQuery("SELECT quarantined_from FROM devices WHERE tenant_id = :t AND id = :id")
                .bind("t", tenant.value()).bind("id", id.value()).mapTo(String.class).findOne().map(DeviceStatus::fromWire);
    }

    public void setStatus(Handle h, TenantId tenant, DeviceId id, DeviceStatus status, long nowMs) {
        h.createUpdate("UPDATE devices SET status = :status, updated_ms = :now WHERE tenant_id = :t AND id = :id")
                .bind("status", status.wireName()).bind("now", nowMs).bind("t", tenant.value()).bind("id", id.value()).execute();
    }
}
