package dev.bulwark.server.cluster;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import dev.bulwark.protocol.DeviceId;
import dev.bulwark.protocol.TenantId;
import java.util.Map;
import java.util.Optional;
import java.util.OptionalLong;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.Executors;
import java.util.concurrent.RejectedExecutionException;
import java.util.concurrent.ScheduledExecutorService;
import java.util.concurrent.TimeUnit;
import java.util.function.Consumer;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * What the routed deliveries to devices ({@link ClusterCommandDelivery}, {@link ClusterConfigDelivery}) share: a
 * delivery asked for on any node goes to the device's session wherever it is, by the device's lease
 * ({@link LeaseStore}):
 * <ul>
 *   <li>the lease is this node's: sent on the local session, if that session holds the lease of this epoch
 *       ({@link LocalLeases});</li>
 *   <li>another node's: a record on that node's inbox ({@link ClusterNode#inbox}) carrying tenant, device, what to
 *       deliver (an id or a version, never the content) and the lease's epoch. The receiving node sends it only
 *       while it still holds the lease of that epoch ({@link LeaseStore#holds} and its local session): a route
 *       whose lease was superseded delivers nothing, and the node holding the new lease delivers what is pending
 *       when the device subscribes;</li>
 *   <li>no lease: nothing is sent now; the device gets it when it next connects and subscribes.</li>
 * </ul>
 * What was not certainly sent on a local session is routed again {@link #RECHECKS_MS} after the first attempt,
 * reading the lease again: a lease committed after the subscribing session read what was pending, or an inbox
 * record lost with Kafka, leaves nothing stranded while the device is connected. What was offered to a session is
 * remembered for a minute, by key and lease epoch, so the rechecks do not send it to the same session twice.
 *
 * <p>Blocking work (reading leases, what to deliver) runs on this part's own thread, never on the bus's.
 */
final class DeviceRoutes implements AutoCloseable {
    private static final Logger LOG = LoggerFactory.getLogger(DeviceRoutes.class);
    /**
     * The delays of the rechecks after a route's first attempt: the first soon (a session's lease is taken just
     * after the session registers, often after its device subscribed), the last about a quarter of a minute later.
     */
    static final long[] RECHECKS_MS = {250, 1_000, 4_000, 10_000};
    private static final long OFFER_KEPT_MS = 60_000;

    /** A routed record this node received: the device, the epoch of the lease the sender saw, the body. */
    record Routed(TenantId tenant, DeviceId device, long epoch, String from, JsonNode body) {
    }

    /** Something offered to the session holding the lease of {@code epoch}: up to {@code version}, at {@code atMs}. */
    record Offer(long epoch, long version, long atMs) {
    }

    /** A device quarantined, disabled or deleted gets nothing routed, also before its termination reached this node. */
    private static final dev.bulwark.server.device.DeviceStore DEVICES = new dev.bulwark.server.device.DeviceStore();
    private final ClusterNode cluster;
    private final LocalLeases local;
    private final ScheduledExecutorService work;
    private final Map<String, Offer> offers = new ConcurrentHashMap<>();

    DeviceRoutes(ClusterNode cluster, LocalLeases local, String name) {
        this.cluster = cluster;
        this.local = local;
        this.work = Executors.newSingleThreadScheduledExecutor(r -> {
            Thread t = new Thread(r, "bulwark-" + name);
            t.setDaemon(true);
            return t;
        });
        work.scheduleWithFixedDelay(this::prune, OFFER_KEPT_MS / 2, OFFER_KEPT_MS / 2, TimeUnit.MILLISECONDS);
    }

    String node() {
        return cluster.nodeId();
    }

    ClusterNode cluster() {
        return cluster;
    }

    /** The device's lease, if a node holds it (blocking). */
    Optional<LeaseStore.Lease> lease(TenantId tenant, DeviceId device) {
        return cluster.db().read(h -> cluster.leases().current(h, tenant, device)).filter(l -> !l.node().isEmpty());
    }

    boolean here(LeaseStore.Lease lease) {
        return lease.node().equals(node());
    }

    /** Whether this node's session of the device holds the lease of {@code epoch} (as the session registry knows it). */
    boolean sessionHolds(TenantId tenant, DeviceId device, long epoch) {
        OptionalLong mine = local.epoch(tenant, device);
        return mine.isPresent() && mine.getAsLong() == epoch;
    }

    /** Publishes a {@code type} record, {@code body} plus tenant, device and epoch, on the inbox of the lease's node. */
    void forward(LeaseStore.Lease lease, String type, ObjectNode body) {
        body.put("tenant", lease.tenant().value()).put("device", lease.device().value()).put("epoch", lease.epoch());
        // a failed publish is logged by the bus; the rechecks route it again
        cluster.bus().publish(ClusterNode.inbox(lease.node()), lease.tenant().value() + "/" + lease.device().value(), type, body);
    }

    /**
     * Runs {@code handler} (on this part's thread) for each {@code type} record on this node's inbox whose route is
     * still valid: this node holds the device's lease of the record's epoch, in the database and in its session.
     */
    void onInbox(String type, Consumer<Routed> handler) {
        cluster.bus().on(ClusterNode.inbox(node()), type, e -> {
            Routed r;
            try {
                JsonNode b = e.body();
                long epoch = b.path("epoch").asLong(0);
                if (!b.path("epoch").isIntegralNumber() || epoch < 1) {
                    throw new IllegalArgumentException("no lease epoch");
                }
                r = new Routed(TenantId.of(b.path("tenant").asText("")), DeviceId.of(b.path("device").asText("")), epoch, e.node(), b);
            } catch (RuntimeException bad) {
                LOG.warn("ignored a malformed {} record on this node's inbox (from node {})", type, dev.bulwark.server.ingress.Printable.clip(e.node()));
                return;
            }
            execute(() -> {
                if (!sessionHolds(r.tenant(), r.device(), r.epoch())
                        || !cluster.db().read(h -> cluster.leases().holds(h, r.tenant(), r.device(), node(), r.epoch())
                                && DEVICES.status(h, r.tenant(), r.device()).orElse(null) == dev.bulwark.server.device.DeviceStatus.ACTIVE)) {
                    LOG.debug("{} from node {} for device {} of tenant {} not delivered: this node's session no longer holds the lease "
                            + "of epoch {} (superseded, or ended), or the device is not active", type, r.from(), r.device(), r.tenant(), r.epoch());
                    return;
                }
                handler.accept(r);
            });
        });
    }

    /**
     * Claims offering {@code key} up to {@code version} to the session holding the lease of {@code epoch}; returns
     * the claim, or null when that session was offered it (or a later version) already.
     */
    Offer claim(String key, long epoch, long version) {
        Offer mine = new Offer(epoch, version, System.currentTimeMillis());
        Offer now = offers.compute(key, (k, o) -> o != null && o.epoch() == epoch && o.version() >= version ? o : mine);
        return now == mine ? mine : null;
    }

    /** Withdraws a claim whose offer was not sent. */
    void unclaim(String key, Offer claim) {
        offers.remove(key, claim);
    }

    /** Runs {@code again} after the {@code attempt}-th recheck delay (0: the first), if there is one. */
    void recheck(int attempt, Runnable again) {
        if (attempt >= RECHECKS_MS.length) {
            return;
        }
        try {
            work.schedule(guarded(again), RECHECKS_MS[attempt], TimeUnit.MILLISECONDS);
        } catch (RejectedExecutionException closed) {
            // the node is stopping
        }
    }

    void execute(Runnable r) {
        try {
            work.execute(guarded(r));
        } catch (RejectedExecutionException closed) {
            // the node is stopping
        }
    }

    private static Runnable guarded(Runnable r) {
        return () -> {
            try {
                r.run();
            } catch (RuntimeException e) {
                LOG.warn("routing a delivery to a device failed: {}", e.toString());
            }
        };
    }

    private void prune() {
        long before = System.currentTimeMillis() - OFFER_KEPT_MS;
        offers.values().removeIf(o -> o.atMs() < before);
    }

    /** Offers remembered now (for tests and metrics). */
    int remembered() {
        return offers.size();
    }

    @Override
    public void close() {
        work.shutdownNow();
    }
}
