package dev.bulwark.bench;

import ch.qos.logback.classic.Level;
import dev.bulwark.server.cli.ApiClient;
import dev.bulwark.server.config.ClusterSettings;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayDeque;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.Deque;
import java.util.List;
import java.util.concurrent.Callable;
import java.util.stream.Stream;
import org.slf4j.LoggerFactory;
import picocli.CommandLine;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;

/**
 * {@code bulwark bench cluster}: what clustering costs and how fast the nodes act as one. The same QoS 1 load
 * on one standalone node, then on clusters of 1, 2 and 3 nodes on one Kafka broker, all on this machine and on
 * PostgreSQL; then, on the 3-node cluster, cross-node quarantine, takeover and northbound latency.
 */
@Command(name = "cluster", mixinStandardHelpOptions = true, sortOptions = false,
        description = {
            "QoS 1 throughput and CPU per message: one standalone node, then clusters of 1, 2 and 3 nodes under the same load;"
                    + " then, on the 3-node cluster, cross-node quarantine and takeover latency and northbound lag.",
            "",
            "Every node is a child JVM on PostgreSQL (a fresh schema per run, dropped afterwards); the nodes of a cluster share"
                    + " one data directory and one Kafka broker (under a topic prefix of the run's own). The devices are certified"
                    + " through node 0 and spread evenly over the nodes, each connecting straight to its node's MQTT port.",
            "",
            "CPU is utime + stime from /proc/<pid>/stat over the measured interval, in microseconds per acknowledged message:"
                    + " per node (its CPU / the messages it acknowledged), all nodes together, the ratio of that to the standalone"
                    + " node (the target: at most 1.15x), the Kafka broker's (when the benchmark runs it) and the load generator's"
                    + " (this JVM; in the 3-node run it also runs the northbound consumer).",
            ""})
public final class ClusterBench implements Callable<Integer> {
    static final String DEFAULT_DB = "jdbc:postgresql://127.0.0.1:5432/test?user=postgres";
    private static final List<String> NODE_OPTIONS = List.of("--device-rate", "1000000", "--tenant-rate", "1000000000");

    @CommandLine.Spec
    CommandLine.Model.CommandSpec spec;

    @Option(names = "--devices", defaultValue = "300", description = "Certified devices, one mTLS connection each, spread evenly over the nodes (default: ${DEFAULT-VALUE})")
    int devices;

    @Option(names = "--seconds", defaultValue = "20", description = "Measured publishing time of each run (default: ${DEFAULT-VALUE})")
    int seconds;

    @Option(names = "--warmup", defaultValue = "10", description = "Publishing time before measuring, in each run: the nodes' JIT compiles the hot paths (default: ${DEFAULT-VALUE})")
    int warmup;

    @Option(names = "--window", defaultValue = "4", description = "QoS 1 messages in flight per device (default: ${DEFAULT-VALUE})")
    int window;

    @Option(names = "--payload", defaultValue = "100", description = "Payload bytes (default: ${DEFAULT-VALUE})")
    int payload;

    @Option(names = "--connect-concurrency", defaultValue = "50", description = "Device connects in progress at once (default: ${DEFAULT-VALUE})")
    int connectConcurrency;

    @Option(names = "--db", defaultValue = DEFAULT_DB, paramLabel = "JDBC-URL",
            description = "PostgreSQL database in which each run gets a fresh schema, created and dropped by the benchmark (default: ${DEFAULT-VALUE})")
    String db;

    @Option(names = "--kafka", paramLabel = "HOST:PORT[,HOST:PORT...]",
            description = "Kafka brokers of the clusters (plaintext; the benchmark deletes the topics it made). Default: a single-node"
                    + " KRaft broker the benchmark starts in a JVM of its own and stops at the end")
    String kafka;

    @Option(names = "--attempts", defaultValue = "30", description = "Quarantines and takeovers measured on the 3-node cluster, each with a device of its own (default: ${DEFAULT-VALUE})")
    int attempts;

    @Option(names = "--close-timeout", defaultValue = "5", description = "Seconds a quarantined or taken-over connection may stay open before the attempt counts as not closed (default: ${DEFAULT-VALUE})")
    int closeTimeout;

    /** One run's figures: the load's, and the CPU microseconds each process used over the measured interval. */
    record Run(String label, int nodes, long connectFailures, QosLoad.Result load, long[] nodeCpu, long brokerCpu, long generatorCpu) {
    }

    /** The 3-node cluster's latencies. */
    record Latency(CrossNodeLatency.Outcome quarantine, CrossNodeLatency.Outcome takeover, NorthboundLag.Result northbound,
                   Duration timeout, String topic) {
    }

    private final Deque<AutoCloseable> open = new ArrayDeque<>();
    private BenchKafka broker;
    private Latency latency;

    @Override
    public Integer call() throws Exception {
        validate();
        quietKafkaClients();
        Path dir = Files.createTempDirectory("bulwark-bench-cluster");
        List<Run> runs = new ArrayList<>();
        Thread hook = new Thread(this::closeAll, "bench-cluster-cleanup");
        Runtime.getRuntime().addShutdownHook(hook);
        try {
            broker = opened(kafka == null ? BenchKafka.start(dir) : BenchKafka.external(kafka));
            if (kafka == null) {
                System.out.println("Kafka broker (in a JVM of its own) at " + broker.bootstrap());
            }
            runs.add(run(dir, "standalone", 1, false));
            for (int n = 1; n <= 3; n++) {
                runs.add(run(dir, "cluster of " + n, n, true));
            }
        } finally {
            closeAll();
            try {
                Runtime.getRuntime().removeShutdownHook(hook);
            } catch (IllegalStateException e) {
                // the JVM is already shutting down: the hook runs (and finds nothing left to close)
            }
        }
        ClusterReport.print(System.out, this, runs, latency);
        System.out.println();
        System.out.println("node logs: " + dir);
        return 0;
    }

    private void validate() {
        List<String> problems = new ArrayList<>();
        if (devices < 3) {
            problems.add("--devices must be at least 3 (a device per node of the 3-node cluster)");
        }
        if (seconds < 1 || warmup < 0 || window < 1 || payload < 1 || connectConcurrency < 1 || attempts < 1 || closeTimeout < 1) {
            problems.add("--seconds, --window, --payload, --connect-concurrency, --attempts and --close-timeout must be at least 1, --warmup at least 0");
        }
        if (!db.startsWith("jdbc:postgresql:")) {
            problems.add("--db must be a PostgreSQL JDBC URL (jdbc:postgresql://...): the nodes of a cluster share PostgreSQL");
        } else if (db.contains("currentSchema=")) {
            problems.add("--db must not name a schema (currentSchema): each run makes its own");
        }
        if (kafka != null) {
            try {
                new ClusterSettings(ClusterSettings.parseBootstrap(kafka), "bench", null, null, null);
            } catch (IllegalArgumentException e) {
                problems.add(e.getMessage());
            }
        }
        if (!problems.isEmpty()) {
            throw new CommandLine.ParameterException(spec.commandLine(), String.join("; ", problems));
        }
    }

    private Run run(Path dir, String label, int nodes, boolean clustered) throws Exception {
        System.out.printf("%n== %s%n", label);
        Path runDir = dir.resolve(label.replace(' ', '-'));
        BenchCluster cluster = opened(BenchCluster.create(runDir, db, clustered ? broker.bootstrap() : null));
        long started = System.nanoTime();
        try {
            long t0 = System.nanoTime();
            cluster.start(nodes, NODE_OPTIONS);
            System.out.printf("%d node(s) up in %.1f s%n", nodes, (System.nanoTime() - t0) / 1e9);
            BenchNode.Fleet fleet = BenchNode.provisionFleet(runDir, cluster.node(0).https(), devices);
            List<QosLoad.Device> spread = new ArrayList<>();
            for (int i = 0; i < devices; i++) {
                Path[] cred = fleet.credentials().get(i);
                int node = i % nodes;
                spread.add(new QosLoad.Device(String.format("bench-%05d", i), cred[0], cred[1], node, cluster.node(node).mqtt()));
            }
            boolean last = clustered && nodes == 3;
            String topic = last ? cluster.topicPrefix() + ".data.bench" : null;
            NorthboundLag lag = last ? new NorthboundLag(broker.bootstrap(), topic, devices) : null;
            Run run;
            try {
                run = measure(label, cluster, spread, lag);
                if (last) {
                    NorthboundLag.Result north = lag.finish(run.load().startNanos(), run.load().endNanos(), Duration.ofSeconds(closeTimeout));
                    lag.close();
                    lag = null;
                    latency = crossNode(cluster, fleet, spread, north, topic);
                }
            } finally {
                if (lag != null) {
                    lag.close();
                }
            }
            return run;
        } finally {
            close(cluster);
            deleteTree(runDir.resolve("bulwark"));
            deleteTree(runDir.resolve("devices"));
            System.out.printf("%s: done in %.0f s%n", label, (System.nanoTime() - started) / 1e9);
        }
    }

    private Run measure(String label, BenchCluster cluster, List<QosLoad.Device> spread, NorthboundLag lag) throws Exception {
        int nodes = cluster.nodes().size();
        Path ca = cluster.dir().resolve("bulwark/pki/ca.pem");
        try (QosLoad load = new QosLoad(spread, ca, window, payload, nodes, lag == null ? null : lag.acks())) {
            long c0 = System.nanoTime();
            long failed = load.connect(connectConcurrency, new long[spread.size()]);
            System.out.printf("%d devices connected in %.1f s (%d failed); %d s warm-up, %d s measured%n", spread.size() - failed,
                    (System.nanoTime() - c0) / 1e9, failed, warmup, seconds);
            load.startPublishing();
            Thread.sleep(warmup * 1000L);
            long[] nodeCpu = cpu(cluster);
            long brokerCpu = broker.pid() < 0 ? -1 : ProcCpu.micros(broker.pid());
            long selfCpu = ProcCpu.self();
            load.beginMeasuring();
            Thread.sleep(seconds * 1000L);
            QosLoad.Result r = load.endMeasuring();
            long[] nodeCpuAfter = cpu(cluster);
            for (int i = 0; i < nodes; i++) {
                nodeCpu[i] = delta(nodeCpu[i], nodeCpuAfter[i]);
            }
            brokerCpu = delta(brokerCpu, broker.pid() < 0 ? -1 : ProcCpu.micros(broker.pid()));
            selfCpu = delta(selfCpu, ProcCpu.self());
            load.stopPublishing();
            Thread.sleep(1000); // the messages in flight are acknowledged (their PUBACKs reach the northbound check)
            System.out.printf("%s: %d PUBACKs in %.1f s (%.0f/s)%n", label, r.acked(), r.seconds(), r.acksPerSecond());
            return new Run(label, nodes, failed, r, nodeCpu, brokerCpu, selfCpu);
        }
    }

    /** CPU microseconds between two readings; -1 when either could not be read (the process is gone). */
    private static long delta(long before, long after) {
        return before < 0 || after < 0 ? -1 : after - before;
    }

    private static long[] cpu(BenchCluster cluster) {
        return cluster.nodes().stream().mapToLong(n -> ProcCpu.micros(n.process().pid())).toArray();
    }

    private Latency crossNode(BenchCluster cluster, BenchNode.Fleet fleet, List<QosLoad.Device> spread,
                              NorthboundLag.Result north, String topic) throws Exception {
        Path ca = cluster.dir().resolve("bulwark/pki/ca.pem");
        Duration timeout = Duration.ofSeconds(closeTimeout);
        try (CrossNodeLatency x = new CrossNodeLatency(ca, timeout)) {
            List<QosLoad.Device> onNode2 = spread.stream().filter(d -> d.node() == 2).limit(attempts).toList();
            List<QosLoad.Device> onNode0 = spread.stream().filter(d -> d.node() == 0).limit(attempts).toList();
            ApiClient api0 = new ApiClient("localhost", cluster.node(0).https(), ca);
            System.out.printf("%nquarantine: %d devices on node-2, through node-0's API%n", onNode2.size());
            CrossNodeLatency.Outcome quarantine = x.quarantine(onNode2, api0, fleet.operatorToken());
            System.out.printf("takeover: %d devices on node-0, again on node-1%n", onNode0.size());
            CrossNodeLatency.Outcome takeover = x.takeover(onNode0, cluster.node(0).mqtt(), cluster.node(1).mqtt());
            return new Latency(quarantine, takeover, north, timeout, topic);
        }
    }

    int devices() {
        return devices;
    }

    /** The configuration line of the report. */
    String describe() {
        return String.format("%d devices, window %d, %d-byte payloads, %d s measured after %d s warm-up; PostgreSQL %s; Kafka %s",
                devices, window, payload, seconds, warmup, db.replaceAll("password=[^&]*", "password=***"),
                kafka == null ? "in-process broker (a JVM of its own)" : kafka);
    }

    private synchronized <T extends AutoCloseable> T opened(T resource) {
        open.push(resource);
        return resource;
    }

    private void close(AutoCloseable resource) {
        synchronized (this) {
            open.remove(resource);
        }
        closeQuietly(resource);
    }

    /** Stops whatever is still running, newest first: nodes (and their schema, topics), then the broker. */
    private synchronized void closeAll() {
        while (!open.isEmpty()) {
            closeQuietly(open.pop());
        }
    }

    private static void closeQuietly(AutoCloseable resource) {
        try {
            resource.close();
        } catch (Exception e) {
            System.err.println("bench: cleanup: " + e.getMessage());
        }
    }

    private static void quietKafkaClients() {
        ((ch.qos.logback.classic.Logger) LoggerFactory.getLogger("org.apache.kafka")).setLevel(Level.WARN);
        ((ch.qos.logback.classic.Logger) LoggerFactory.getLogger("io.vertx.mqtt")).setLevel(Level.ERROR);
        // the load generator builds each device's TLS context on an event loop while connecting: that is its cost, not the nodes'
        ((ch.qos.logback.classic.Logger) LoggerFactory.getLogger("io.vertx.core.impl.BlockedThreadChecker")).setLevel(Level.ERROR);
    }

    private static void deleteTree(Path dir) {
        if (!Files.exists(dir)) {
            return;
        }
        try (Stream<Path> files = Files.walk(dir)) {
            for (Path f : files.sorted(Comparator.reverseOrder()).toList()) {
                Files.deleteIfExists(f);
            }
        } catch (IOException e) {
            System.err.println("bench: could not delete " + dir + ": " + e.getMessage());
        }
    }
}
