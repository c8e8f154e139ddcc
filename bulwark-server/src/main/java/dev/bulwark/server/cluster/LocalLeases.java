package dev.bulwark.server.cluster;

import dev.bulwark.protocol.DeviceId;
import dev.bulwark.protocol.TenantId;
import dev.bulwark.server.device.LiveSessions;
import java.util.OptionalLong;

/**
 * The lease held by this node's session of a device: the epoch of the device→node lease ({@link LeaseStore}) that
 * the local session took when it registered. A routed delivery is sent to the device only when the local session
 * still holds the lease of the epoch the route carries (see {@link ClusterCommandDelivery}).
 *
 * <p>Implemented by the cluster's session registry, which takes the lease when a session registers and releases
 * it when the session ends; an epoch is known here once its lease is committed, best before the device's SUBSCRIBE
 * is handled (see {@link ClusterCommandDelivery} for why; a lease known later is covered by the routes' rechecks). Until the registry is one, {@link #forNode} reads the lease row: this node holds the
 * device's lease and has a session of the device.
 */
public interface LocalLeases {

    /** The epoch of the lease this node's session of the device holds; empty when it holds none (or no session). */
    OptionalLong epoch(TenantId tenant, DeviceId device);

    /**
     * The node's sessions when they hold their leases themselves, else the lease row in the database together
     * with the presence of a local session.
     */
    static LocalLeases forNode(ClusterNode cluster, LiveSessions sessions) {
        if (sessions instanceof LocalLeases own) {
            return own;
        }
        return (tenant, device) -> {
            if (!sessions.connected(tenant, device)) {
                return OptionalLong.empty();
            }
            return cluster.db().read(h -> cluster.leases().current(h, tenant, device))
                    .filter(l -> l.node().equals(cluster.nodeId()))
                    .map(l -> OptionalLong.of(l.epoch())).orElse(OptionalLong.empty());
        };
    }
}
