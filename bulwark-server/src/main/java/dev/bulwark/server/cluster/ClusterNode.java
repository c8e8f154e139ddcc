package dev.bulwark.server.cluster;

import dev.bulwark.server.config.ClusterSettings;
import dev.bulwark.server.core.Clock;
import dev.bulwark.server.store.Database;
import java.util.Map;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * This node's membership of a cluster: the Kafka clients and the bus every cross-node part publishes on and
 * listens to, and the device leases in the shared database. The parts are built with it and register what
 * they listen to; {@link #start()} then opens the bus, before the node's listeners accept devices.
 *
 * <p>Topics (each {@code <prefix>.<name>}, default prefix {@code bulwark}):
 * <ul>
 *   <li>{@code control}: terminations, session openings (takeovers), key destructions; 1 partition, 1 hour;</li>
 *   <li>{@code auth}: authentication failures and MQTT logins, takeovers and limit violations the detector folds; 1 partition, 1 hour;</li>
 *   <li>{@code bans}: active source bans, compacted, keyed by ban id;</li>
 *   <li>{@code load}: each node's per-tenant connection counts and message rates, compacted, keyed by node;</li>
 *   <li>{@code node.<id>}: deliveries routed to one node (commands, desired configuration); 1 partition, 1 hour;</li>
 *   <li>{@code data.<tenant>}: the tenant's committed device data, northbound (see {@code Northbound}).</li>
 * </ul>
 */
public final class ClusterNode implements AutoCloseable {
    private static final Logger LOG = LoggerFactory.getLogger(ClusterNode.class);
    public static final String CONTROL = "control";
    public static final String AUTH = "auth";
    public static final String BANS = "bans";
    public static final String LOAD = "load";
    /** Records on the short-lived topics are kept this long (they matter for seconds). */
    public static final Map<String, String> SHORT_LIVED = Map.of("retention.ms", String.valueOf(3_600_000L), "cleanup.policy", "delete");
    /** Current state, one record per key. */
    public static final Map<String, String> COMPACTED = Map.of("cleanup.policy", "compact", "min.compaction.lag.ms", "0",
            "segment.ms", String.valueOf(600_000L));

    private final Kafka kafka;
    private final ClusterBus bus;
    private final LeaseStore leases = new LeaseStore();
    private final Database db;
    private final Clock clock;

    public ClusterNode(ClusterSettings settings, Clock clock, Database db) {
        this.kafka = new Kafka(settings);
        this.clock = clock;
        this.db = db;
        this.bus = new ClusterBus(kafka, clock);
        bus.listen(CONTROL, 1, SHORT_LIVED, false);
        bus.listen(inbox(settings.nodeId()), 1, SHORT_LIVED, false);
    }

    /** The topic name (without prefix) of {@code node}'s inbox. */
    public static String inbox(String node) {
        return "node." + node;
    }

    public String nodeId() {
        return kafka.nodeId();
    }

    public Kafka kafka() {
        return kafka;
    }

    public ClusterBus bus() {
        return bus;
    }

    public LeaseStore leases() {
        return leases;
    }

    public Database db() {
        return db;
    }

    public Clock clock() {
        return clock;
    }

    /** A running node beats this often; a node id whose holder has not beaten for {@link #STALE_MS} is free. */
    static final long HEARTBEAT_MS = 1_000;
    static final long STALE_MS = 5_000;

    private final ClusterNodeStore nodes = new ClusterNodeStore();
    private final String run = dev.bulwark.server.crypto.Secrets.randomHex(8);
    private final java.util.concurrent.ScheduledExecutorService heart = java.util.concurrent.Executors.newSingleThreadScheduledExecutor(r -> {
        Thread t = new Thread(r, "bulwark-cluster-heartbeat");
        t.setDaemon(true);
        return t;
    });

    /**
     * Takes this node's id for this run: refused while another running node holds it (its heartbeat keeps
     * advancing); the id of a node that stopped without a word (killed) is free once its heartbeat is stale.
     * Liveness is measured on the wall clock, whatever clock the node's business runs on.
     */
    private void claimId() {
        long deadline = System.currentTimeMillis() + 2 * STALE_MS;
        while (true) {
            boolean taken = db.tx(h -> {
                var holder = nodes.lock(h, nodeId());
                long now = System.currentTimeMillis();
                if (holder.isPresent() && !holder.get().runId().equals(run) && now - holder.get().heartbeatMs() < STALE_MS) {
                    return false;
                }
                nodes.hold(h, nodeId(), run, now, holder.isPresent());
                return true;
            });
            if (taken) {
                return;
            }
            if (System.currentTimeMillis() > deadline) {
                throw new IllegalStateException("node id '" + nodeId() + "' is held by a running node of this cluster: give every node its own"
                        + " --node-id");
            }
            try {
                Thread.sleep(HEARTBEAT_MS); // waits for a killed holder's heartbeat to go stale
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
                throw new IllegalStateException("interrupted while taking the node id");
            }
        }
    }

    private void beat() {
        try {
            if (!db.tx(h -> nodes.beat(h, nodeId(), run, System.currentTimeMillis()))) {
                LOG.error("node id '{}' was taken by another node while this node's heartbeat was stale: two nodes share an id", nodeId());
            }
        } catch (RuntimeException e) {
            LOG.warn("cluster heartbeat failed (database unreachable?): {}", e.toString());
        }
    }

    /** Takes the node id, voids the leases of this node's previous run, then opens the bus. */
    public void start() {
        claimId();
        heart.scheduleWithFixedDelay(this::beat, HEARTBEAT_MS, HEARTBEAT_MS, java.util.concurrent.TimeUnit.MILLISECONDS);
        int stale = db.tx(h -> leases.releaseNode(h, nodeId()));
        if (stale > 0) {
            LOG.info("released {} device leases left by this node's previous run", stale);
        }
        bus.start();
        LOG.info("node {} joined the cluster on Kafka {} (topics {}.*)", nodeId(), String.join(",", kafka.settings().bootstrap()),
                kafka.settings().topicPrefix());
    }

    @Override
    public void close() {
        bus.close();
        heart.shutdownNow();
        try {
            db.tx(h -> {
                nodes.release(h, nodeId(), run);
                return null;
            });
        } catch (RuntimeException e) {
            LOG.warn("could not give up node id '{}' (it frees itself in {} s): {}", nodeId(), STALE_MS / 1000, e.toString());
        }
    }
}
