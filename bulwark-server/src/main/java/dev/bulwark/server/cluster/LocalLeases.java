package dev.bulwark.server.cluster;

import dev.bulwark.protocol.DeviceId;
import dev.bulwark.protocol.TenantId;
import java.util.OptionalLong;

/**
 * The lease held by this node's session of a device: the epoch of the device→node lease ({@link LeaseStore}) that
 * the local session took when it registered. A routed delivery is sent to the device only when the local session
 * still holds the lease of the epoch the route carries (see {@link ClusterCommandDelivery}).
 *
 * <p>Implemented by the cluster's session registry ({@link ClusterSessions#leaseEpoch}), which takes the lease when
 * a session registers and releases it when the session ends. An epoch is known here once its lease is committed,
 * which may be after the device's SUBSCRIBE was handled: the routes' rechecks cover that (see
 * {@link ClusterCommandDelivery}).
 */
public interface LocalLeases {

    /** The epoch of the lease this node's session of the device holds; empty when it holds none (or no session). */
    OptionalLong epoch(TenantId tenant, DeviceId device);
}
