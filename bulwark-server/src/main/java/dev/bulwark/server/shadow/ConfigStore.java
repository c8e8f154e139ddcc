package dev.bulwark.server.shadow;

import dev.bulwark.protocol.DeviceId;
import dev.bulwark.protocol.TenantId;
import java.util.Optional;
import org.jdbi.v3.core.Handle;

/**
 * The {@code device_config} table: one row per device with its versioned desired document and what it
 * reported (stored as the caller gives it: sealed text). Every statement is keyed by tenant.
 */
public final class ConfigStore {

    /** A device's row as stored; {@code storedReported} is not opened. */
    public record Row(String desired, long desiredVersion, Long desiredMs, String storedReported, Long reportedMs) {
    }

    public Optional<Row> find(Handle h, TenantId tenant, DeviceId device) {
        return h.createQuery("SELECT * FROM device_config WHERE tenant_id = :t AND device_id = :d")
                .bind("t", tenant.value()).bind("d", device.value())
                .map((rs, ctx) -> {
                    long dm = rs.getLong("desired_ms");
                    Long desiredMs = rs.wasNull() ? null : dm;
                    long rm = rs.getLong("reported_ms");
                    Long reportedMs = rs.wasNull() ? null : rm;
                    return new Row(rs.getString("desired"), rs.getLong("desired_version"), desiredMs, rs.getString("reported"), reportedMs);
                }).findOne();
    }

    /** The device's desired version, its row locked for the transaction; empty when it has no row. */
    public Optional<Long> lockDesiredVersion(Handle h, TenantId tenant, DeviceId device) {
        return h.createQuery("SELECT desired_version FROM device_config WHERE tenant_id = :t AND device_id = :d FOR UPDATE")
                .bind("t", tenant.value()).bind("d", device.value()).mapTo(Long.class).findOne();
    }

    /** Stores {@code desired} as version {@code version} (the row is created when the device has none). */
    public void setDesired(Handle h, TenantId tenant, DeviceId device, String desired, long version, long nowMs) {
        int n = h.createUpdate("UPDATE device_config SET desired = :doc, desired_version = :v, desired_ms = :now WHERE tenant_id = :t AND device_id = :d")
                .bind("doc", desired).bind("v", version).bind("now", nowMs).bind("t", tenant.value()).bind("d", device.value()).execute();
        if (n == 0) {
            h.createUpdate("INSERT INTO device_config (tenant_id, device_id, desired, desired_version, desired_ms) VALUES (:t, :d, :doc, :v, :now)")
                    .bind("doc", desired).bind("v", version).bind("now", nowMs).bind("t", tenant.value()).bind("d", device.value()).execute();
        }
    }

    /** Stores what the device reported (the row is created, with no desired document, when it has none). */
    public void setReported(Handle h, TenantId tenant, DeviceId device, String storedReported, long nowMs) {
        int n = h.createUpdate("UPDATE device_config SET reported = :doc, reported_ms = :now WHERE tenant_id = :t AND device_id = :d")
                .bind("doc", storedReported).bind("now", nowMs).bind("t", tenant.value()).bind("d", device.value()).execute();
        if (n == 0) {
            h.createUpdate("INSERT INTO device_config (tenant_id, device_id, desired_version, reported, reported_ms) VALUES (:t, :d, 0, :doc, :now)")
                    .bind("doc", storedReported).bind("now", nowMs).bind("t", tenant.value()).bind("d", device.value()).execute();
        }
    }
}
