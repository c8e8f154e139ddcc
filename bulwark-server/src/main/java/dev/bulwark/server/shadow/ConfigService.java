package dev.bulwark.server.shadow;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import dev.bulwark.protocol.DeviceId;
import dev.bulwark.protocol.TenantId;
import dev.bulwark.protocol.Topics;
import dev.bulwark.server.Clock;
import dev.bulwark.server.device.DeviceLink;
import dev.bulwark.server.store.Database;
import java.nio.charset.StandardCharsets;
import java.util.Map;
import java.util.Optional;
import org.jdbi.v3.core.Handle;

/**
 * Desired and reported device configuration. The desired document is versioned; each new version is
 * pushed to the device if it is connected and subscribed to {@code config/desired}, and the current one
 * is pushed again whenever the device subscribes. Payload to the device:
 * {@code {"version": n, "desired": {...}}}.
 */
public final class ConfigService {

    /** Stored configuration of one device. */
    public record Config(JsonNode desired, long desiredVersion, Long desiredMs, JsonNode reported, Long reportedMs) {
        /** Top-level keys whose desired value differs from the reported one (a shallow comparison). */
        public ObjectNode delta() {
            ObjectNode d = ModelStore.JSON.createObjectNode();
            if (desired != null && desired.isObject()) {
                for (Map.Entry<String, JsonNode> e : desired.properties()) {
                    if (reported == null || !e.getValue().equals(reported.get(e.getKey()))) {
                        d.set(e.getKey(), e.getValue());
                    }
                }
            }
            return d;
        }
    }

    private final Database db;
    private final Clock clock;
    private volatile DeviceLink link = DeviceLink.NONE;

    public ConfigService(Database db, Clock clock) {
        this.db = db;
        this.clock = clock;
    }

    public void attach(DeviceLink link) {
        this.link = link;
    }

    private volatile dev.bulwark.server.lifecycle.Ownership ownership;

    /** Seals reported configuration under the device's ownership-period key from now on. */
    public void attach(dev.bulwark.server.lifecycle.Ownership ownership) {
        this.ownership = ownership;
    }

    private String seal(Handle h, TenantId tenant, DeviceId device, JsonNode reported, long now) {
        dev.bulwark.server.lifecycle.Ownership o = ownership;
        return o == null ? reported.toString()
                : o.sealText(h, tenant.value(), device.value(), "config-reported", reported.toString(), now);
    }

    private JsonNode open(TenantId tenant, DeviceId device, String stored) {
        dev.bulwark.server.lifecycle.Ownership o = ownership;
        return ModelStore.parse(o == null ? stored : o.openText(tenant.value(), device.value(), "config-reported", stored));
    }

    public Optional<Config> find(Handle h, TenantId tenant, DeviceId device) {
        return h.createQuery("SELECT * FROM device_config WHERE tenant_id = :t AND device_id = :d")
                .bind("t", tenant.value()).bind("d", device.value())
                .map((rs, ctx) -> {
                    long dm = rs.getLong("desired_ms");
                    Long desiredMs = rs.wasNull() ? null : dm;
                    long rm = rs.getLong("reported_ms");
                    Long reportedMs = rs.wasNull() ? null : rm;
                    return new Config(ModelStore.parse(rs.getString("desired")), rs.getLong("desired_version"), desiredMs,
                            open(tenant, device, rs.getString("reported")), reportedMs);
                }).findOne();
    }

    /** Stores a new desired document (already validated) in the caller's transaction; returns its version. */
    public long setDesired(Handle h, TenantId tenant, DeviceId device, JsonNode desired) {
        long now = clock.nowMs();
        Optional<Config> current = h.createQuery("SELECT desired_version FROM device_config WHERE tenant_id = :t AND device_id = :d FOR UPDATE")
                .bind("t", tenant.value()).bind("d", device.value()).mapTo(Long.class).findOne()
                .map(v -> new Config(null, v, null, null, null));
        long version = current.map(c -> c.desiredVersion() + 1).orElse(1L);
        if (current.isPresent()) {
            h.createUpdate("UPDATE device_config SET desired = :doc, desired_version = :v, desired_ms = :now WHERE tenant_id = :t AND device_id = :d")
                    .bind("doc", desired.toString()).bind("v", version).bind("now", now).bind("t", tenant.value()).bind("d", device.value()).execute();
        } else {
            h.createUpdate("INSERT INTO device_config (tenant_id, device_id, desired, desired_version, desired_ms) VALUES (:t, :d, :doc, :v, :now)")
                    .bind("doc", desired.toString()).bind("v", version).bind("now", now).bind("t", tenant.value()).bind("d", device.value()).execute();
        }
        return version;
    }

    /** Stores what the device reports (blocking; call off the event loop). */
    public void report(TenantId tenant, DeviceId device, JsonNode reported) {
        long now = clock.nowMs();
        if (reported.toString().length() > MAX_REPORTED) {
            throw new IllegalArgumentException("a reported configuration is at most " + MAX_REPORTED + " characters");
        }
        dev.bulwark.server.lifecycle.Ownership o = ownership;
        try {
            reportTx(tenant, device, reported, now);
        } catch (RuntimeException e) {
            if (o != null) {
                o.forget(tenant.value(), device.value()); // a period opened in the rolled-back transaction is not cached
            }
            throw e;
        }
    }

    /** Sealed and base64-encoded, a reported document of this size still fits its column. */
    public static final int MAX_REPORTED = 32 * 1024;

    private void reportTx(TenantId tenant, DeviceId device, JsonNode reported, long now) {
        db.tx(h -> {
            String doc = seal(h, tenant, device, reported, now);
            int n = h.createUpdate("UPDATE device_config SET reported = :doc, reported_ms = :now WHERE tenant_id = :t AND device_id = :d")
                    .bind("doc", doc).bind("now", now).bind("t", tenant.value()).bind("d", device.value()).execute();
            if (n == 0) {
                h.createUpdate("INSERT INTO device_config (tenant_id, device_id, desired_version, reported, reported_ms) VALUES (:t, :d, 0, :doc, :now)")
                        .bind("doc", doc).bind("now", now).bind("t", tenant.value()).bind("d", device.value()).execute();
            }
            return null;
        });
    }

    /** Pushes the current desired document to the device, if it has one and is listening; returns whether it was sent. */
    public boolean push(TenantId tenant, DeviceId device) {
        Optional<Config> c = db.read(h -> find(h, tenant, device));
        if (c.isEmpty() || c.get().desired() == null) {
            return false;
        }
        return push(tenant, device, c.get().desired(), c.get().desiredVersion());
    }

    public boolean push(TenantId tenant, DeviceId device, JsonNode desired, long version) {
        ObjectNode msg = ModelStore.JSON.createObjectNode();
        msg.put("version", version);
        msg.set("desired", desired);
        return link.send(tenant, device, Topics.configDesired(device), msg.toString().getBytes(StandardCharsets.UTF_8), () -> { });
    }
}
