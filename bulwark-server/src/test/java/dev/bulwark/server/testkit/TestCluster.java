package dev.bulwark.server.testkit;

import dev.bulwark.server.config.ClusterSettings;
import dev.bulwark.server.config.ServerConfig;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.function.Consumer;

/**
 * Several real Bulwark nodes in one cluster: one shared data directory (key material), one fresh PostgreSQL
 * schema on the local server, the shared in-process Kafka broker ({@link KafkaBroker#shared()}) under a topic
 * prefix of the cluster's own. Node {@code i} has node id {@code node-<i>}. Nodes can be stopped and started
 * again; {@link #close()} stops them all and removes the data directory and the schema.
 */
public final class TestCluster implements AutoCloseable {
    private final Path dataDir;
    private final String databaseUrl;
    private final String prefix;
    private final String bootstrap;
    private final Consumer<ServerConfig.Builder> customizer;
    private final List<TestServer> nodes = new ArrayList<>();

    private TestCluster(int size, String bootstrap, Consumer<ServerConfig.Builder> customizer) {
        Backend.requirePostgres();
        try {
            this.dataDir = Files.createTempDirectory("bulwark-cluster-");
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
        this.databaseUrl = Backend.POSTGRESQL.freshDatabase();
        this.prefix = "t" + Long.toHexString(Double.doubleToLongBits(Math.random())).substring(0, 10);
        this.bootstrap = bootstrap;
        this.customizer = customizer;
        try {
            for (int i = 0; i < size; i++) {
                nodes.add(boot(i));
            }
        } catch (RuntimeException e) {
            close();
            throw e;
        }
    }

    /** A cluster of {@code size} nodes on the shared broker. */
    public static TestCluster start(int size) {
        return start(size, b -> { });
    }

    public static TestCluster start(int size, Consumer<ServerConfig.Builder> customizer) {
        return new TestCluster(size, KafkaBroker.shared().bootstrap(), customizer);
    }

    /** A cluster of {@code size} nodes on {@code broker} (e.g. one a test restarts). */
    public static TestCluster start(int size, KafkaBroker broker, Consumer<ServerConfig.Builder> customizer) {
        return new TestCluster(size, broker.bootstrap(), customizer);
    }

    /** The settings node {@code i} joins the cluster with. */
    public ClusterSettings settings(int i) {
        return new ClusterSettings(List.of(bootstrap), nodeId(i), null, prefix, null);
    }

    public static String nodeId(int i) {
        return "node-" + i;
    }

    private TestServer boot(int i) {
        return TestServer.member(dataDir, databaseUrl, b -> {
            b.cluster(settings(i));
            customizer.accept(b);
        });
    }

    /** Starts one more node under node {@code i}'s id, next to it (a misconfiguration); not part of the cluster's nodes. */
    public TestServer startAs(int i) {
        return boot(i);
    }

    public TestServer node(int i) {
        return nodes.get(i);
    }

    public int size() {
        return nodes.size();
    }

    public List<TestServer> nodes() {
        return List.copyOf(nodes);
    }

    /** Stops node {@code i} (cleanly); {@link #restart} brings it back. */
    public void stop(int i) {
        nodes.get(i).stop();
    }

    /** Starts node {@code i} again, with the same node id. */
    public TestServer restart(int i) {
        nodes.set(i, boot(i));
        return nodes.get(i);
    }

    /** The cluster's topic prefix (every topic is {@code <prefix>.<name>}). */
    public String topicPrefix() {
        return prefix;
    }

    public String kafkaBootstrap() {
        return bootstrap;
    }

    public Path dataDir() {
        return dataDir;
    }

    public String databaseUrl() {
        return databaseUrl;
    }

    /** The platform admin's token (created by the first node). */
    public String adminToken() {
        return nodes.get(0).adminToken();
    }

    @Override
    public void close() {
        for (TestServer n : nodes) {
            try {
                n.close();
            } catch (RuntimeException e) {
                // already stopped
            }
        }
        Backend.drop(databaseUrl);
        TestServer.deleteTree(dataDir);
    }
}
