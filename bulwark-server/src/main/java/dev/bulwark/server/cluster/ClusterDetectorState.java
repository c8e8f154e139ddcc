package dev.bulwark.server.cluster;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import dev.bulwark.server.config.DataDir;
import dev.bulwark.server.crypto.Secrets;
import dev.bulwark.server.monitor.Alert;
import dev.bulwark.server.monitor.AuthAttempt;
import dev.bulwark.server.monitor.DetectorState;
import dev.bulwark.server.monitor.InProcessDetectorState;
import dev.bulwark.server.monitor.SecurityEvent;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Collection;
import java.util.HexFormat;
import java.util.Set;
import java.util.concurrent.ArrayBlockingQueue;
import java.util.concurrent.RejectedExecutionException;
import java.util.concurrent.ThreadPoolExecutor;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicLong;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * The detector's state in a cluster: one view of every node's authentication failures (and MQTT logins, for the
 * retries), takeovers and limit violations. The events the detector judges are not folded where they happen:
 * each node publishes them to the {@code auth} topic (one partition, so one total order), and every node folds
 * every record of it, in that order, into windows in its memory ({@link InProcessDetectorState}). Every node thus holds the same windows and
 * the same open alerts, and judges each record the same way; only the node that published the record
 * {@linkplain #acting() acts} on it, raising or updating the alert and banning, so that a brute force spread over
 * three nodes is one attack, one alert (with one id on every node, derived from the record) and one ban.
 *
 * <p>Latency: a failure counts on every node once its record has come back from Kafka (milliseconds; up to the
 * producer's retries while Kafka is unreachable). A record that cannot be published at all is folded on this
 * node alone. A node that joins folds the stream from then on: its windows are complete one detection window
 * after it started (meanwhile the records it publishes are judged on its partial windows, so an attack may be
 * recognised a little later, and an alert open on the others may be opened a second time by it). Folding runs on a thread of its own (the bus's thread only hands records over); when it falls
 * more than {@link #BACKLOG} records behind, further records are dropped and counted.
 *
 * <p>Credential fingerprints are keyed by {@link #fingerprintKey}, shared by the nodes, so that one secret
 * presented to two nodes is one credential (a misconfigured device retrying through a load balancer is not a
 * brute force).
 */
public final class ClusterDetectorState implements DetectorState, AutoCloseable {
    private static final Logger LOG = LoggerFactory.getLogger(ClusterDetectorState.class);
    static final String ATTEMPT = "auth-attempt";
    static final String EVENT = "security-event";
    static final int BACKLOG = 100_000;
    private static final int MAX_FIELD = 1_000;

    private final InProcessDetectorState local;
    private final ClusterBus bus;
    /** This run of this node: a node restarted under the same id does not act on what its previous run published. */
    private final String run = Secrets.randomHex(8);
    private final ThreadPoolExecutor folder;
    private final AtomicLong dropped = new AtomicLong();
    private final AtomicLong malformed = new AtomicLong();
    // the record being folded: written and read on the folding thread only
    private boolean acting = true;
    private String record;

    public ClusterDetectorState(ClusterNode cluster, long windowMs) {
        this.local = new InProcessDetectorState(windowMs);
        this.bus = cluster.bus();
        this.folder = new ThreadPoolExecutor(1, 1, 0, TimeUnit.MILLISECONDS, new ArrayBlockingQueue<>(BACKLOG), r -> {
            Thread t = new Thread(r, "bulwark-cluster-detector");
            t.setDaemon(true);
            return t;
        });
        bus.listen(ClusterNode.AUTH, 1, ClusterNode.SHORT_LIVED, false);
    }

    /**
     * The key of the credential fingerprints, shared by the nodes: {@code monitor/fingerprint.key} in the shared
     * data directory (owner-only), created by the first node (under the data directory's lock).
     */
    public static byte[] fingerprintKey(DataDir dataDir) {
        Path file = dataDir.dir("monitor").resolve("fingerprint.key");
        if (!Files.exists(file)) {
            DataDir.createSecret(file, Secrets.randomHex(32) + "\n");
        }
        String hex = DataDir.read(file).trim();
        if (!hex.matches("[0-9a-f]{64}")) {
            throw new IllegalStateException(file + " is not a fingerprint key (64 hex digits)");
        }
        return HexFormat.of().parseHex(hex);
    }

    @Override
    public Judge route(Judge judge) {
        bus.on(ClusterNode.AUTH, ATTEMPT, e -> fold(e, () -> {
            AuthAttempt a = attempt(e.body());
            if (a != null) {
                judge.attempt(a);
            }
        }));
        bus.on(ClusterNode.AUTH, EVENT, e -> fold(e, () -> {
            SecurityEvent s = event(e.body());
            if (s != null) {
                judge.event(s);
            }
        }));
        return new Judge() {
            @Override
            public void attempt(AuthAttempt a) {
                publish(a.identity(), ATTEMPT, body(a), () -> judge.attempt(a));
            }

            @Override
            public void event(SecurityEvent s) {
                publish(s.identity(), EVENT, body(s), () -> judge.event(s));
            }
        };
    }

    /** Publishes a record; folds it here alone when it cannot reach the stream. */
    private void publish(String key, String type, ObjectNode body, Runnable alone) {
        String id = Secrets.randomHex(8);
        body.put("run", run).put("id", id);
        if (!bus.started()) {
            submit(true, id, alone); // before this node joined the stream (the API listener starts first)
            return;
        }
        bus.publish(ClusterNode.AUTH, key, type, body).whenComplete((ok, err) -> {
            if (err != null) {
                submit(true, id, alone);
            }
        });
    }

    private void fold(ClusterBus.Envelope e, Runnable judge) {
        String id = e.body().path("id").asText("");
        submit(bus.own(e) && run.equals(e.body().path("run").asText()), id, judge);
    }

    private void submit(boolean own, String id, Runnable judge) {
        try {
            folder.execute(() -> {
                acting = own;
                record = id;
                try {
                    judge.run();
                } finally {
                    acting = true;
                    record = null;
                }
            });
        } catch (RejectedExecutionException full) {
            if (folder.isShutdown()) {
                return; // the node is stopping
            }
            long n = dropped.incrementAndGet();
            if (Long.bitCount(n) == 1) {
                LOG.warn("the detector is {} records behind the cluster's stream: {} records dropped so far", BACKLOG, n);
            }
        }
    }

    @Override
    public boolean acting() {
        return acting;
    }

    @Override
    public String newAlertId(String key) {
        String r = record;
        if (r == null || r.isEmpty()) {
            return DetectorState.super.newAlertId(key);
        }
        return "alert-" + Secrets.sha256Hex(r + "|" + key).substring(0, 16);
    }

    /** Records of the stream dropped because the detector was too far behind, and records ignored as malformed. */
    public long dropped() {
        return dropped.get();
    }

    public long malformed() {
        return malformed.get();
    }

    // ---- the records ----

    static ObjectNode body(AuthAttempt a) {
        ObjectNode b = ClusterBus.body();
        b.put("time", a.timeMs()).put("tenant", a.tenantId()).put("identity", a.identity()).put("credential", a.credential())
                .put("source", a.sourceAddress()).put("port", a.sourcePort()).put("channel", a.channel()).put("success", a.success())
                .put("reason", a.reason());
        return b;
    }

    static ObjectNode body(SecurityEvent s) {
        ObjectNode b = ClusterBus.body();
        b.put("time", s.timeMs()).put("tenant", s.tenantId()).put("type", s.type()).put("reason", s.reason()).put("identity", s.identity())
                .put("source", s.sourceAddress()).put("port", s.sourcePort()).put("channel", s.channel());
        return b; // the detail stays with the stored event: the detector does not read it
    }

    private AuthAttempt attempt(JsonNode b) {
        if (!b.path("time").canConvertToLong() || !b.path("success").isBoolean() || text(b, "channel") == null || text(b, "reason") == null) {
            return bad("auth-attempt");
        }
        return new AuthAttempt(b.path("time").asLong(), text(b, "tenant"), text(b, "identity"), text(b, "credential"), text(b, "source"),
                b.path("port").asInt(), text(b, "channel"), b.path("success").asBoolean(), text(b, "reason"));
    }

    private SecurityEvent event(JsonNode b) {
        if (!b.path("time").canConvertToLong() || text(b, "type") == null || text(b, "identity") == null) {
            return bad("security-event");
        }
        return new SecurityEvent(b.path("time").asLong(), text(b, "tenant"), text(b, "type"), text(b, "reason"), text(b, "identity"),
                text(b, "source"), b.path("port").asInt(), text(b, "channel"), null);
    }

    private <T> T bad(String what) {
        long n = malformed.incrementAndGet();
        if (Long.bitCount(n) == 1) {
            LOG.warn("ignored a malformed {} record on the cluster's auth topic ({} so far)", what, n);
        }
        return null;
    }

    private static String text(JsonNode b, String field) {
        JsonNode v = b.get(field);
        if (v == null || !v.isTextual()) {
            return null;
        }
        String s = v.asText();
        return s.length() > MAX_FIELD ? s.substring(0, MAX_FIELD) : s;
    }

    // ---- the windows: this node's copy of the folded stream ----

    @Override
    public Collection<Failure> identityFailure(String identity, Failure f) {
        return local.identityFailure(identity, f);
    }

    @Override
    public Collection<Failure> sourceFailure(String source, Failure f) {
        return local.sourceFailure(source, f);
    }

    @Override
    public Collection<Mark> takeover(String identity, Mark m) {
        return local.takeover(identity, m);
    }

    @Override
    public Collection<Mark> violation(String identity, Mark m) {
        return local.violation(identity, m);
    }

    @Override
    public Mark connected(String identity, Mark m) {
        return local.connected(identity, m);
    }

    @Override
    public Alert openAlert(String key, long nowMs) {
        return local.openAlert(key, nowMs);
    }

    @Override
    public void opened(String key, Alert alert, long nowMs) {
        local.opened(key, alert, nowMs);
    }

    @Override
    public Set<String> retrying(String tenant, String identity, boolean restart) {
        return local.retrying(tenant, identity, restart);
    }

    @Override
    public int tracked() {
        return local.tracked();
    }

    @Override
    public void close() {
        folder.shutdownNow();
    }
}
