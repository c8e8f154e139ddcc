package dev.bulwark.server.ownership;

import dev.bulwark.protocol.DeviceId;
import dev.bulwark.protocol.TenantId;
import java.util.List;
import java.util.Optional;
import org.jdbi.v3.core.Handle;
import org.jdbi.v3.core.mapper.RowMapper;

/**
 * The {@code ownership_periods} table, and what the end of a period clears in the tables of the parts that
 * hold a device's data from it (reported configuration, a queued factory reset). Those two statements live
 * here, not in the configuration and command stores, because those parts seal through {@link Ownership} and
 * so sit above this package. Every statement is keyed by tenant.
 */
public final class PeriodStore {
    private static final RowMapper<Ownership.Period> MAPPER = (rs, ctx) -> {
        long end = rs.getLong("end_ms");
        Long endMs = rs.wasNull() ? null : end;
        return new Ownership.Period(rs.getString("id"), TenantId.of(rs.getString("tenant_id")), DeviceId.of(rs.getString("device_id")),
                rs.getString("owner_id"),
                rs.getString("key_id"), rs.getLong("start_ms"), endMs);
    };

    public void insert(Handle h, Ownership.Period p) {
        h.createUpdate("INSERT INTO ownership_periods (id, tenant_id, device_id, owner_id, key_id, start_ms) VALUES (:id, :t, :d, :o, :k, :now)")
                .bind("id", p.id()).bind("t", p.tenant().value()).bind("d", p.device().value()).bind("o", p.ownerId()).bind("k", p.keyId())
                .bind("now", p.startMs()).execute();
    }

    /** Ends the device's open period (if any) at {@code nowMs}; returns how many ended (0 or 1). */
    public int close(Handle h, TenantId tenant, DeviceId device, long nowMs) {
        return h.createUpdate("UPDATE ownership_periods SET end_ms = :now WHERE tenant_id = :t AND device_id = :d AND end_ms IS NULL")
                .bind("now", nowMs).bind("t", tenant.value()).bind("d", device.value()).execute();
    }

    public Optional<Ownership.Period> open(Handle h, TenantId tenant, DeviceId device) {
        return h.createQuery("SELECT * FROM ownership_periods WHERE tenant_id = :t AND device_id = :d AND end_ms IS NULL")
                .bind("t", tenant.value()).bind("d", device.value()).map(MAPPER).findOne();
    }

    public List<Ownership.Period> ofOwner(Handle h, TenantId tenant, String owner) {
        return h.createQuery("SELECT * FROM ownership_periods WHERE tenant_id = :t AND owner_id = :o ORDER BY start_ms")
                .bind("t", tenant.value()).bind("o", owner).map(MAPPER).list();
    }

    public List<Ownership.Period> ofDevice(Handle h, TenantId tenant, DeviceId device) {
        return h.createQuery("SELECT * FROM ownership_periods WHERE tenant_id = :t AND device_id = :d ORDER BY start_ms")
                .bind("t", tenant.value()).bind("d", device.value()).map(MAPPER).list();
    }

    /** Deletes the owner's periods (their keys are destroyed by the caller after the commit). */
    public int deleteOfOwner(Handle h, TenantId tenant, String owner) {
        return h.createUpdate("DELETE FROM ownership_periods WHERE tenant_id = :t AND owner_id = :o")
                .bind("t", tenant.value()).bind("o", owner).execute();
    }

    /** What the device reported belongs to the period that ends: its reported configuration is cleared. */
    public void clearReportedConfig(Handle h, TenantId tenant, DeviceId device) {
        h.createUpdate("UPDATE device_config SET reported = NULL, reported_ms = NULL WHERE tenant_id = :t AND device_id = :d")
                .bind("t", tenant.value()).bind("d", device.value()).execute();
    }

    /**
     * Queues the factory reset a device receives when it changes hands (its local data from the previous
     * period goes too), as a {@code queued} command delivered when it next subscribes.
     */
    public void queueFactoryReset(Handle h, TenantId tenant, DeviceId device, String commandId, long nowMs, long expiresMs, String actor) {
        h.createUpdate("INSERT INTO commands (tenant_id, id, device_id, name, params, state, created_ms, expires_ms, created_by) "
                        + "VALUES (:t, :id, :d, 'factory-reset', '{}', 'queued', :now, :exp, :by)")
                .bind("t", tenant.value()).bind("id", commandId).bind("d", device.value()).bind("now", nowMs).bind("exp", expiresMs)
                .bind("by", actor).execute();
    }
}
