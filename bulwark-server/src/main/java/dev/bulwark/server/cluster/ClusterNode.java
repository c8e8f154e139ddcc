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

    /** Voids the leases of this node's previous run, then opens the bus. */
    public void start() {
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
    }
}
