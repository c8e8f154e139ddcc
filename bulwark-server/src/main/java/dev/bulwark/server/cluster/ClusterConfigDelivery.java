package dev.bulwark.server.cluster;

import com.fasterxml.jackson.databind.JsonNode;
import dev.bulwark.protocol.DeviceId;
import dev.bulwark.protocol.TenantId;
import dev.bulwark.server.shadow.ConfigDelivery;
import dev.bulwark.server.shadow.ConfigStore;
import dev.bulwark.server.shadow.ModelStore;
import java.util.Objects;
import java.util.Optional;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Desired configurations reach their device on whichever node holds its session, by the device's lease
 * ({@link DeviceRoutes}): pushed on the local session when the lease is this node's, else routed as a
 * {@value #PUSH} record {@code {"tenant", "device", "version", "epoch"}} to the inbox of the node holding the lease,
 * which pushes the device's current desired document (read from the database: the record carries no content) only
 * while its session still holds the lease of that epoch. With no lease nothing is pushed now: the current document
 * is pushed when the device next subscribes. A device acts on a version newer than the last it applied only, so a
 * document pushed twice is applied once.
 */
public final class ClusterConfigDelivery implements ConfigDelivery, AutoCloseable {
    private static final Logger LOG = LoggerFactory.getLogger(ClusterConfigDelivery.class);
    /** The inbox record asking the node holding the lease to push the current desired configuration. */
    public static final String PUSH = "push-config";

    private final DeviceRoutes routes;
    private final ConfigDelivery local;
    private final ConfigStore store;

    /**
     * {@code local} pushes on this node's sessions (a {@code LocalConfigDelivery}); {@code store} is where this node
     * reads the current desired document (desired documents are not sealed).
     */
    public ClusterConfigDelivery(ClusterNode cluster, LocalLeases leases, ConfigDelivery local, ConfigStore store) {
        this.routes = new DeviceRoutes(cluster, Objects.requireNonNull(leases, "leases"), "config-routes");
        this.local = Objects.requireNonNull(local, "local");
        this.store = Objects.requireNonNull(store, "store");
        routes.onInbox(PUSH, this::received);
    }

    @Override
    public boolean push(TenantId tenant, DeviceId device, JsonNode desired, long version) {
        return route(tenant, device, desired, version, 0);
    }

    private boolean route(TenantId tenant, DeviceId device, JsonNode desired, long version, int attempt) {
        Optional<LeaseStore.Lease> lease = routes.lease(tenant, device);
        boolean sentHere = false;
        boolean sent;
        if (lease.isEmpty()) {
            sent = false; // no session anywhere: pushed when the device subscribes
        } else if (routes.here(lease.get())) {
            sent = sentHere = pushHere(tenant, device, lease.get().epoch(), desired, version);
        } else {
            routes.forward(lease.get(), PUSH, ClusterBus.body().put("version", version));
            sent = true;
        }
        if (!sentHere) {
            routes.recheck(attempt, () -> current(tenant, device).ifPresent(c ->
                    route(tenant, device, c.desired(), c.desiredVersion(), attempt + 1)));
        }
        return sent;
    }

    /** The device's current desired document and its version. */
    private record Desired(JsonNode desired, long desiredVersion) {
    }

    private Optional<Desired> current(TenantId tenant, DeviceId device) {
        return routes.cluster().db().read(h -> store.find(h, tenant, device)).filter(r -> r.desired() != null)
                .map(r -> new Desired(ModelStore.parse(r.desired()), r.desiredVersion()));
    }

    /** Pushes on this node's session if it holds the lease of {@code epoch} and was not offered this version yet. */
    private boolean pushHere(TenantId tenant, DeviceId device, long epoch, JsonNode desired, long version) {
        if (!routes.sessionHolds(tenant, device, epoch)) {
            LOG.debug("desired configuration {} not pushed: this node's session of device {} does not hold its lease of epoch {}", version,
                    device, epoch);
            return false;
        }
        String key = tenant.value() + "/" + device.value();
        DeviceRoutes.Offer claim = routes.claim(key, epoch, version);
        if (claim == null) {
            return true; // this version (or a later one) is already on its way to this session
        }
        boolean sent = local.push(tenant, device, desired, version);
        if (!sent) {
            routes.unclaim(key, claim);
        }
        return sent;
    }

    /** A {@value #PUSH} record whose route is valid: pushes the device's current desired document. */
    private void received(DeviceRoutes.Routed r) {
        current(r.tenant(), r.device()).ifPresent(c -> pushHere(r.tenant(), r.device(), r.epoch(), c.desired(), c.desiredVersion()));
    }

    @Override
    public void close() {
        routes.close();
    }
}
