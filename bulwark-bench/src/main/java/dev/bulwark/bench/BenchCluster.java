package dev.bulwark.bench;

import com.fasterxml.jackson.databind.JsonNode;
import java.nio.file.Files;
import java.nio.file.Path;
import java.sql.Connection;
import java.sql.DriverManager;
import java.sql.SQLException;
import java.sql.Statement;
import java.util.ArrayList;
import java.util.HexFormat;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.concurrent.ThreadLocalRandom;
import java.util.concurrent.TimeUnit;
import java.util.stream.Collectors;
import org.apache.kafka.clients.admin.Admin;
import org.apache.kafka.clients.admin.AdminClientConfig;

/**
 * The nodes of one run of {@code bench cluster}, each a child JVM ({@link BenchNode}): one standalone node, or
 * {@code n} nodes of a cluster ({@code node-0}, {@code node-1}, ...) on one Kafka broker under a topic prefix of
 * their own, sharing one data directory ({@code dir/bulwark}). Either way on a fresh PostgreSQL schema, created
 * here and dropped by {@link #close()}, which also stops the nodes and deletes the run's topics.
 */
final class BenchCluster implements AutoCloseable {
    /** A node: its id (null when standalone), process and ports. */
    record Node(String id, Process process, JsonNode ports) {
        int mqtt() {
            return ports.get("mqtt").asInt();
        }

        int https() {
            return ports.get("https").asInt();
        }
    }

    private final Path dir;
    private final String dbBase;
    private final String schema;
    private final String kafka;
    private final String topicPrefix;
    private final List<Node> nodes = new ArrayList<>();
    private final List<Process> processes = new ArrayList<>();
    private boolean closed;

    private BenchCluster(Path dir, String dbBase, String schema, String kafka, String topicPrefix) {
        this.dir = dir;
        this.dbBase = dbBase;
        this.schema = schema;
        this.kafka = kafka;
        this.topicPrefix = topicPrefix;
    }

    /** A run in {@code dir} on a fresh schema of {@code dbBase}; {@code kafka} null for a standalone node. */
    static BenchCluster create(Path dir, String dbBase, String kafka) throws Exception {
        Files.createDirectories(dir);
        String tag = HexFormat.of().toHexDigits(ThreadLocalRandom.current().nextInt());
        String schema = "bench_" + tag;
        exec(dbBase, "CREATE SCHEMA " + schema);
        return new BenchCluster(dir, dbBase, schema, kafka, kafka == null ? null : "bench-" + tag);
    }

    /**
     * Starts {@code count} nodes (one when standalone) together; they take turns on the shared data directory
     * and schema (the first creates the keys and tables) through the data directory's lock.
     */
    void start(int count, List<String> nodeOptions) throws Exception {
        if (kafka == null && count != 1) {
            throw new IllegalArgumentException("a standalone run has one node");
        }
        for (int i = 0; i < count; i++) {
            launch(i, nodeOptions);
        }
        for (int i = 0; i < count; i++) {
            nodes.add(await(i));
        }
    }

    private synchronized void launch(int i, List<String> nodeOptions) throws Exception {
        if (closed) {
            throw new IllegalStateException("stopped");
        }
        List<String> options = new ArrayList<>(nodeOptions);
        if (kafka != null) {
            options.addAll(List.of("--kafka", kafka, "--node-id", nodeId(i), "--kafka-topic-prefix", topicPrefix));
        }
        processes.add(BenchNode.start(dir, logName(i), url(), options));
    }

    private Node await(int i) throws Exception {
        String id = kafka == null ? null : nodeId(i);
        return new Node(id, processes.get(i), BenchNode.awaitPorts(dir, id, processes.get(i), dir.resolve(logName(i))));
    }

    private static String nodeId(int i) {
        return "node-" + i;
    }

    private String logName(int i) {
        return kafka == null ? "bulwark.log" : nodeId(i) + ".log";
    }

    /** The database URL the nodes use: the base URL on this run's schema. */
    String url() {
        return dbBase + (dbBase.contains("?") ? "&" : "?") + "currentSchema=" + schema;
    }

    /** The directory of the run: the shared data directory {@code bulwark}, node logs, device credentials. */
    Path dir() {
        return dir;
    }

    /** The topic prefix of the cluster, or null when standalone. */
    String topicPrefix() {
        return topicPrefix;
    }

    List<Node> nodes() {
        return List.copyOf(nodes);
    }

    Node node(int i) {
        return nodes.get(i);
    }

    /** Stops every node (all told at once, then awaited), deletes the run's topics and drops the schema. */
    @Override
    public synchronized void close() {
        if (closed) {
            return;
        }
        closed = true;
        for (Process p : processes) {
            p.destroy();
        }
        for (Process p : processes) {
            try {
                if (!p.waitFor(30, TimeUnit.SECONDS)) {
                    p.destroyForcibly().waitFor(10, TimeUnit.SECONDS);
                }
            } catch (InterruptedException e) {
                p.destroyForcibly();
                Thread.currentThread().interrupt();
            }
        }
        if (kafka != null) {
            deleteTopics();
        }
        try {
            exec(dbBase, "DROP SCHEMA IF EXISTS " + schema + " CASCADE");
        } catch (SQLException e) {
            System.err.println("bench: could not drop schema " + schema + ": " + e.getMessage());
        }
    }

    private void deleteTopics() {
        try (Admin admin = Admin.create(Map.of(AdminClientConfig.BOOTSTRAP_SERVERS_CONFIG, kafka,
                AdminClientConfig.DEFAULT_API_TIMEOUT_MS_CONFIG, 10_000, AdminClientConfig.REQUEST_TIMEOUT_MS_CONFIG, 10_000))) {
            Set<String> mine = admin.listTopics().names().get(10, TimeUnit.SECONDS).stream()
                    .filter(t -> t.startsWith(topicPrefix + ".")).collect(Collectors.toSet());
            if (!mine.isEmpty()) {
                admin.deleteTopics(mine).all().get(10, TimeUnit.SECONDS);
            }
        } catch (Exception e) {
            System.err.println("bench: could not delete the topics " + topicPrefix + ".*: " + e.getMessage());
        }
    }

    private static void exec(String url, String sql) throws SQLException {
        try (Connection c = DriverManager.getConnection(url); Statement s = c.createStatement()) {
            s.execute(sql);
        }
    }
}
