package dev.bulwark.server.cluster;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import dev.bulwark.server.core.Clock;
import dev.bulwark.server.device.RateLimiter;
import dev.bulwark.server.device.TenantQuotas;
import java.util.HashMap;
import java.util.Iterator;
import java.util.Map;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.Executors;
import java.util.concurrent.ScheduledExecutorService;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.concurrent.atomic.LongAdder;

/**
 * Tenant quotas held across the nodes of a cluster, approximately. Each node counts its own connections and
 * messages per tenant and publishes the counts every {@link #REPORT_MS} ms to the compacted {@code load} topic
 * (keyed by node id); each node keeps the latest report of every other node, and stops counting a node whose last
 * report it heard more than {@link #STALE_MS} ms ago (the node stopped or died: its devices reconnect elsewhere
 * and are counted there). Freshness is when a report was heard, not the sender's clock.
 *
 * <ul>
 *   <li><b>Connections.</b> A node admits a tenant's connection when its own count plus the other nodes' latest
 *       reported counts is under the quota. The approximation: a connection admitted on one node is in the others'
 *       view after at most one reporting interval plus the bus's latency (about {@value #REPORT_MS} ms), so
 *       connections arriving on several nodes within that interval may take the tenant over its quota: by at most
 *       what the other nodes admit meanwhile ({@code quota × (nodes − 1)} in the worst case, a burst reaching every
 *       node at once with the tenant at zero); not at all when connections arrive more than an interval apart. The
 *       excess is not closed; it ends as connections end. The slots of a node that died count until its report goes
 *       stale ({@value #STALE_MS} ms; at once on a clean stop, which publishes an empty report). A connection counts
 *       as a takeover (admitted at the quota) only when this node holds the identity's session.</li>
 *   <li><b>Messages.</b> The tenant's rate is split evenly across the live nodes: each enforces
 *       {@code rate / live nodes} with a token bucket, as a standalone node enforces the whole rate. The cluster
 *       admits at most the tenant's rate (but while the number of live nodes changes), and a tenant whose devices
 *       sit unevenly across the nodes may be refused below its rate on the node holding more of them. The message
 *       counts travel in the reports too (to read on the topic); they do not admit or refuse.</li>
 * </ul>
 * {@link #connections} answers the cluster-wide estimate: this node's count plus the others' reports.
 */
public final class ClusterQuotas implements TenantQuotas, AutoCloseable {
    static final String REPORT = "load-report";
    static final long REPORT_MS = 500;
    static final long STALE_MS = 3_000;
    /** A report replayed at start from longer ago than this is ignored (beyond any clock difference between nodes). */
    private static final long HISTORY_MS = 60_000;
    private static final int MAX_TENANTS_REPORTED = 100_000;

    private record Report(long receivedNanos, Map<String, Integer> connections) {
    }

    private record Share(int nodes, RateLimiter limiter) {
    }

    private final ClusterBus bus;
    private final Clock clock;
    private final int maxConnections;
    private final int messagesPerSecond;
    private final Map<String, AtomicInteger> local = new ConcurrentHashMap<>();
    private final Map<String, LongAdder> messages = new ConcurrentHashMap<>();
    private final Map<String, Report> others = new ConcurrentHashMap<>();
    private final Map<String, Share> rates = new ConcurrentHashMap<>();
    private volatile int liveNodes = 1;
    private final ScheduledExecutorService reporter = Executors.newSingleThreadScheduledExecutor(r -> {
        Thread t = new Thread(r, "bulwark-cluster-load");
        t.setDaemon(true);
        return t;
    });

    public ClusterQuotas(ClusterNode cluster, int maxConnections, int messagesPerSecond) {
        this.bus = cluster.bus();
        this.clock = cluster.clock();
        this.maxConnections = maxConnections;
        this.messagesPerSecond = messagesPerSecond;
        bus.listen(ClusterNode.LOAD, 1, ClusterNode.COMPACTED, true);
        bus.on(ClusterNode.LOAD, REPORT, this::heard);
        bus.whenStarted(() -> reporter.scheduleAtFixedRate(this::report, 0, REPORT_MS, TimeUnit.MILLISECONDS));
    }

    @Override
    public boolean connect(String tenant) {
        int elsewhere = elsewhere(tenant);
        AtomicInteger n = local.computeIfAbsent(tenant, t -> new AtomicInteger());
        while (true) {
            int c = n.get();
            if (c + elsewhere >= maxConnections) {
                return false;
            }
            if (n.compareAndSet(c, c + 1)) {
                return true;
            }
        }
    }

    @Override
    public void takeOver(String tenant) {
        local.computeIfAbsent(tenant, t -> new AtomicInteger()).incrementAndGet();
    }

    @Override
    public void disconnect(String tenant) {
        AtomicInteger n = local.get(tenant);
        if (n != null) {
            n.decrementAndGet();
        }
    }

    @Override
    public int connections(String tenant) {
        AtomicInteger n = local.get(tenant);
        return (n == null ? 0 : n.get()) + elsewhere(tenant);
    }

    /** This node's own connections of {@code tenant}. */
    public int localConnections(String tenant) {
        AtomicInteger n = local.get(tenant);
        return n == null ? 0 : n.get();
    }

    /** The nodes whose reports are fresh, this one included. */
    public int liveNodes() {
        return liveNodes;
    }

    @Override
    public boolean message(String tenant) {
        messages.computeIfAbsent(tenant, t -> new LongAdder()).increment();
        int nodes = liveNodes;
        Share s = rates.get(tenant);
        if (s == null || s.nodes() != nodes) {
            double share = (double) messagesPerSecond / nodes;
            s = new Share(nodes, new RateLimiter(share, Math.max(1, share)));
            rates.put(tenant, s);
        }
        return s.limiter().tryAcquire();
    }

    @Override
    public int maxConnections() {
        return maxConnections;
    }

    @Override
    public int messagesPerSecond() {
        return messagesPerSecond;
    }

    private int elsewhere(String tenant) {
        long fresh = System.nanoTime() - TimeUnit.MILLISECONDS.toNanos(STALE_MS);
        int sum = 0;
        for (Report r : others.values()) {
            if (r.receivedNanos() - fresh > 0) {
                sum += r.connections().getOrDefault(tenant, 0);
            }
        }
        return sum;
    }

    private void heard(ClusterBus.Envelope e) {
        if (bus.own(e)) {
            return; // this node's own count is its memory (and a report of its previous run is history)
        }
        if (e.body().path("stopped").asBoolean(false)) {
            others.remove(e.node());
            recount();
            return;
        }
        if (clock.nowMs() - e.timeMs() > HISTORY_MS) {
            return; // replayed at start: the last report of a node gone long ago
        }
        JsonNode c = e.body().path("connections");
        Map<String, Integer> counts = new HashMap<>();
        if (c.isObject()) {
            Iterator<Map.Entry<String, JsonNode>> it = c.fields();
            while (it.hasNext() && counts.size() < MAX_TENANTS_REPORTED) {
                Map.Entry<String, JsonNode> f = it.next();
                if (f.getValue().canConvertToInt() && f.getValue().asInt() > 0 && f.getKey().length() <= 100) {
                    counts.put(f.getKey(), f.getValue().asInt());
                }
            }
        }
        // freshness is when this node heard the report, not the sender's clock (the nodes' clocks may differ)
        others.put(e.node(), new Report(System.nanoTime(), Map.copyOf(counts)));
        recount();
    }

    private void recount() {
        long fresh = System.nanoTime() - TimeUnit.MILLISECONDS.toNanos(STALE_MS);
        int n = 1;
        for (Report r : others.values()) {
            if (r.receivedNanos() - fresh > 0) {
                n++;
            }
        }
        liveNodes = n;
    }

    private void report() {
        try {
            ObjectNode body = ClusterBus.body();
            ObjectNode c = body.putObject("connections");
            local.forEach((t, n) -> {
                if (n.get() > 0 && c.size() < MAX_TENANTS_REPORTED) {
                    c.put(t, n.get());
                }
            });
            ObjectNode m = body.putObject("messages");
            messages.forEach((t, n) -> {
                long v = n.sumThenReset();
                if (v > 0 && m.size() < MAX_TENANTS_REPORTED) {
                    m.put(t, v);
                }
            });
            messages.entrySet().removeIf(x -> x.getValue().sum() == 0 && !local.containsKey(x.getKey()));
            body.put("intervalMs", REPORT_MS);
            bus.publish(ClusterNode.LOAD, bus.nodeId(), REPORT, body);
            recount();
        } catch (RuntimeException e) {
            // the next report tries again
        }
    }

    @Override
    public void close() {
        reporter.shutdownNow();
        try {
            // a clean stop frees this node's slots on the others at once, rather than when its report goes stale
            bus.publish(ClusterNode.LOAD, bus.nodeId(), REPORT, ClusterBus.body().put("stopped", true)).get(2, TimeUnit.SECONDS);
        } catch (Exception e) {
            // they will see the report go stale
        }
    }
}
