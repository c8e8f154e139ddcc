package dev.bulwark.server.shadow;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import dev.bulwark.protocol.DeviceId;
import dev.bulwark.protocol.TenantId;
import dev.bulwark.server.core.Clock;
import dev.bulwark.server.ownership.Ownership;
import dev.bulwark.server.store.Database;
import java.util.Map;
import java.util.Objects;
import java.util.Optional;
import org.jdbi.v3.core.Handle;

/**
 * Desired and reported device configuration. The desired document is versioned; each new version is
 * pushed to the device if it is connected and subscribed to {@code config/desired}, and the current one
 * is pushed again whenever the device subscribes, through the {@link ConfigDelivery} given at construction
 * (in process: {@link LocalConfigDelivery} on the node's device link, bound to the MQTT listener once it
 * exists). What the device reports is sealed under its ownership-period key ({@link Ownership}), so a service
 * is never built without it. Rows are stored by {@link ConfigStore}.
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

    private static final String KIND = "config-reported";

    private final Database db;
    private final Clock clock;
    private final ConfigStore store;
    private final Ownership ownership;
    private final ConfigDelivery delivery;

    public ConfigService(Database db, Clock clock, ConfigStore store, Ownership ownership, ConfigDelivery delivery) {
        this.db = Objects.requireNonNull(db, "db");
        this.clock = Objects.requireNonNull(clock, "clock");
        this.store = Objects.requireNonNull(store, "store");
        this.ownership = Objects.requireNonNull(ownership, "ownership: reported configuration is sealed");
        this.delivery = Objects.requireNonNull(delivery, "delivery");
    }

    public Optional<Config> find(Handle h, TenantId tenant, DeviceId device) {
        return store.find(h, tenant, device).map(r -> new Config(ModelStore.parse(r.desired()), r.desiredVersion(), r.desiredMs(),
                ModelStore.parse(ownership.openText(tenant, device, KIND, r.storedReported())), r.reportedMs()));
    }

    /** Stores a new desired document (already validated) in the caller's transaction; returns its version. */
    public long setDesired(Handle h, TenantId tenant, DeviceId device, JsonNode desired) {
        long version = store.lockDesiredVersion(h, tenant, device).map(v -> v + 1).orElse(1L);
        store.setDesired(h, tenant, device, desired.toString(), version, clock.nowMs());
        return version;
    }

    /** Stores what the device reports (blocking; call off the event loop). */
    public void report(TenantId tenant, DeviceId device, JsonNode reported) {
        long now = clock.nowMs();
        if (reported.toString().length() > MAX_REPORTED) {
            throw new IllegalArgumentException("a reported configuration is at most " + MAX_REPORTED + " characters");
        }
        try {
            db.tx(h -> {
                store.setReported(h, tenant, device, ownership.sealText(h, tenant, device, KIND, reported.toString(), now), now);
                return null;
            });
        } catch (RuntimeException e) {
            ownership.forget(tenant, device); // a period opened in the rolled-back transaction is not cached
            throw e;
        }
    }

    /** Sealed and base64-encoded, a reported document of this size still fits its column. */
    public static final int MAX_REPORTED = 32 * 1024;

    /** Pushes the current desired document to the device, if it has one and is listening; returns whether it was sent. */
    public boolean push(TenantId tenant, DeviceId device) {
        Optional<Config> c = db.read(h -> find(h, tenant, device));
        if (c.isEmpty() || c.get().desired() == null) {
            return false;
        }
        return push(tenant, device, c.get().desired(), c.get().desiredVersion());
    }

    /** Sends version {@code version} of the desired document if the device is listening; returns whether it was sent. */
    public boolean push(TenantId tenant, DeviceId device, JsonNode desired, long version) {
        return delivery.push(tenant, device, desired, version);
    }
}
