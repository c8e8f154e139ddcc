package dev.bulwark.server.testkit;

import java.io.IOException;
import java.io.OutputStream;
import java.io.PrintStream;
import java.io.UncheckedIOException;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.net.ServerSocket;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.Comparator;
import java.util.List;
import java.util.Map;
import java.util.Properties;
import java.util.concurrent.TimeUnit;
import java.util.stream.Stream;
import kafka.server.KafkaConfig;
import kafka.server.KafkaRaftServer;
import org.apache.kafka.clients.admin.Admin;
import org.apache.kafka.clients.admin.AdminClientConfig;
import org.apache.kafka.common.Uuid;
import org.apache.kafka.common.utils.Time;
import org.apache.kafka.common.utils.internals.Exit;
import org.apache.kafka.metadata.storage.Formatter;
import org.awaitility.Awaitility;
import org.junit.jupiter.api.Assertions;

/**
 * A real single-node Apache Kafka broker (KRaft, combined broker and controller, node id 1) running in the
 * test JVM on loopback: plaintext listener on an ephemeral port of 127.0.0.1, storage in a directory of its
 * own. Sized for one node: every internal topic has replication factor 1 and one partition, topics are never
 * created on demand, consumer groups rebalance without delay.
 *
 * <p>{@link #shared()} is one broker for the whole test JVM (tests keep apart by topic and group names);
 * a test that stops or restarts the broker {@link #start() starts its own}. {@link #restart()} comes back on
 * the same port and the same log directory, with everything written before it.
 *
 * <p>When the broker cannot start the test <b>fails</b>, never skips.
 *
 * <p>This is the one place the tests touch Kafka's server classes.
 */
public final class KafkaBroker implements AutoCloseable {
    private static final int NODE_ID = 1;
    private static final String HOST = "127.0.0.1";
    private static final Duration READY_TIMEOUT = Duration.ofSeconds(30);
    private static final String CLEAN_SHUTDOWN_MARKER = ".kafka_cleanshutdown";
    private static final String RECOVERY_CHECKPOINT = "recovery-point-offset-checkpoint";

    private static volatile KafkaBroker shared;
    private static Exception sharedFailure;

    static {
        // a fatal broker fault must fail the tests, not halt the JVM they run in
        Exit.setHaltProcedure((status, message) -> {
            throw new IllegalStateException("the Kafka broker hit a fatal fault (status " + status + ")");
        });
        Exit.setExitProcedure((status, message) -> {
            throw new IllegalStateException("the Kafka broker asked to exit (status " + status + ")");
        });
    }

    private final Path logDir;
    private final boolean ownsDir;
    private int port;
    private int controllerPort;
    private KafkaRaftServer server;

    private KafkaBroker(Path logDir, boolean ownsDir) {
        this.logDir = logDir;
        this.ownsDir = ownsDir;
    }

    /** A broker of its own in a fresh temporary directory, deleted by {@link #close()}. */
    public static KafkaBroker start() {
        try {
            return startIn(Files.createTempDirectory("bulwark-kafka-"), true);
        } catch (IOException | RuntimeException e) {
            throw unavailable(e);
        }
    }

    /**
     * A broker of its own with its log directory in {@code dir}, which the caller owns (e.g. a JUnit
     * {@code @TempDir}): formatted when empty, reopened when a broker of this kit used it before.
     */
    public static KafkaBroker start(Path dir) {
        try {
            return startIn(dir, false);
        } catch (RuntimeException e) {
            throw unavailable(e);
        }
    }

    /**
     * The broker every test of this JVM shares; started on first use, stopped when the JVM exits. Do not
     * stop, restart or close it: {@link #start()} one of your own for that.
     */
    public static synchronized KafkaBroker shared() {
        if (sharedFailure == null && shared == null) {
            try {
                KafkaBroker broker = startIn(Files.createTempDirectory("bulwark-kafka-shared-"), true);
                Runtime.getRuntime().addShutdownHook(new Thread(broker::closeQuietly, "kafka-broker-shutdown"));
                shared = broker;
            } catch (IOException | RuntimeException e) {
                sharedFailure = e;
            }
        }
        if (sharedFailure != null) {
            throw unavailable(sharedFailure);
        }
        return shared;
    }

    private static KafkaBroker startIn(Path dir, boolean ownsDir) {
        KafkaBroker broker = new KafkaBroker(dir, ownsDir);
        try {
            broker.formatIfNew();
            broker.bootOnFreePorts();
            return broker;
        } catch (RuntimeException e) {
            broker.closeQuietly();
            throw e;
        }
    }

    /** {@code 127.0.0.1:PORT} of the plaintext listener; the same across {@link #restart()}. */
    public String bootstrap() {
        return HOST + ":" + port;
    }

    /** The broker's log directory. */
    public Path logDir() {
        return logDir;
    }

    public synchronized boolean isRunning() {
        return server != null;
    }

    /** Shuts the broker down cleanly (controlled shutdown, logs flushed); {@link #restart()} brings it back. */
    public synchronized void stop() {
        refuseOnShared();
        halt();
    }

    /**
     * Stops the broker and leaves its storage as a crashed broker would find it: no clean-shutdown
     * marker and no recovery checkpoint, so the next start recovers every log segment from disk. (In one
     * JVM the process cannot die; written data is in the OS page cache either way.)
     */
    public synchronized void kill() {
        refuseOnShared();
        halt();
        try (Stream<Path> files = Files.walk(logDir)) {
            for (Path f : files.filter(KafkaBroker::isShutdownState).toList()) {
                Files.deleteIfExists(f);
            }
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }

    /** Stops the broker (if running) and starts it again on the same port and log directory. */
    public synchronized void restart() {
        refuseOnShared();
        halt();
        try {
            boot();
        } catch (RuntimeException e) {
            throw unavailable(e);
        }
    }

    /** Stops the broker if it runs and deletes the directory this kit created for it. */
    @Override
    public synchronized void close() {
        refuseOnShared();
        closeQuietly();
    }

    private synchronized void closeQuietly() {
        try {
            halt();
        } finally {
            if (ownsDir) {
                deleteTree(logDir);
            }
        }
    }

    private void refuseOnShared() {
        if (this == shared) {
            throw new IllegalStateException("the shared broker serves every test; use KafkaBroker.start() "
                    + "for one to stop or restart");
        }
    }

    private void formatIfNew() {
        if (Files.exists(logDir.resolve("meta.properties"))) {
            return;
        }
        try {
            new Formatter()
                    .setPrintStream(new PrintStream(OutputStream.nullOutputStream()))
                    .setNodeId(NODE_ID)
                    .setClusterId(Uuid.randomUuid().toString())
                    .setDirectories(List.of(logDir.toString()))
                    .setMetadataLogDirectory(logDir.toString())
                    .setControllerListenerName("CONTROLLER")
                    .run();
        } catch (Exception e) {
            throw new IllegalStateException("formatting Kafka storage in " + logDir + " failed", e);
        }
    }

    /** The first start picks its ports; a port taken between picking and binding is picked again. */
    private void bootOnFreePorts() {
        for (int attempt = 1; ; attempt++) {
            port = freePort();
            controllerPort = freePort();
            try {
                boot();
                return;
            } catch (RuntimeException e) {
                if (attempt == 3) {
                    throw e;
                }
            }
        }
    }

    private void boot() {
        KafkaRaftServer s = new KafkaRaftServer(KafkaConfig.fromProps(config(), false), Time.SYSTEM);
        try {
            s.startup();
            awaitReady();
        } catch (RuntimeException e) {
            stopServer(s);
            throw e;
        }
        server = s;
    }

    private void halt() {
        KafkaRaftServer s = server;
        server = null;
        if (s != null) {
            stopServer(s);
        }
    }

    private static void stopServer(KafkaRaftServer s) {
        s.shutdown();
        s.awaitShutdown();
    }

    private void awaitReady() {
        try (Admin admin = Admin.create(Map.of(AdminClientConfig.BOOTSTRAP_SERVERS_CONFIG, bootstrap(),
                AdminClientConfig.REQUEST_TIMEOUT_MS_CONFIG, 5_000,
                AdminClientConfig.DEFAULT_API_TIMEOUT_MS_CONFIG, 5_000))) {
            Awaitility.await("Kafka broker at " + bootstrap())
                    .atMost(READY_TIMEOUT).pollDelay(Duration.ZERO).pollInterval(Duration.ofMillis(50))
                    .ignoreExceptions()
                    .until(() -> !admin.describeCluster().nodes().get(5, TimeUnit.SECONDS).isEmpty());
        }
    }

    private Properties config() {
        Properties p = new Properties();
        p.put("process.roles", "broker,controller");
        p.put("node.id", String.valueOf(NODE_ID));
        p.put("controller.quorum.voters", NODE_ID + "@" + HOST + ":" + controllerPort);
        p.put("listeners", "PLAINTEXT://" + HOST + ":" + port + ",CONTROLLER://" + HOST + ":" + controllerPort);
        p.put("advertised.listeners", "PLAINTEXT://" + HOST + ":" + port);
        p.put("listener.security.protocol.map", "PLAINTEXT:PLAINTEXT,CONTROLLER:PLAINTEXT");
        p.put("controller.listener.names", "CONTROLLER");
        p.put("inter.broker.listener.name", "PLAINTEXT");
        p.put("log.dirs", logDir.toString());
        p.put("metadata.log.dir", logDir.toString());
        // one node: every replication factor and in-sync minimum is 1, internal topics have one partition
        p.put("default.replication.factor", "1");
        p.put("min.insync.replicas", "1");
        p.put("num.partitions", "1");
        p.put("offsets.topic.replication.factor", "1");
        p.put("offsets.topic.num.partitions", "1");
        p.put("transaction.state.log.replication.factor", "1");
        p.put("transaction.state.log.min.isr", "1");
        p.put("transaction.state.log.num.partitions", "1");
        p.put("share.coordinator.state.topic.replication.factor", "1");
        p.put("share.coordinator.state.topic.min.isr", "1");
        p.put("share.coordinator.state.topic.num.partitions", "1");
        p.put("group.initial.rebalance.delay.ms", "0");
        p.put("auto.create.topics.enable", "false");
        // small and light: 1 MiB segments, few threads, a small compaction buffer
        p.put("log.segment.bytes", String.valueOf(1 << 20));
        p.put("num.network.threads", "2");
        p.put("num.io.threads", "2");
        p.put("background.threads", "2");
        p.put("num.recovery.threads.per.data.dir", "1");
        p.put("log.cleaner.threads", "1");
        p.put("log.cleaner.dedupe.buffer.size", String.valueOf(2 << 20));
        return p;
    }

    private static boolean isShutdownState(Path f) {
        String name = f.getFileName().toString();
        return name.equals(CLEAN_SHUTDOWN_MARKER) || name.equals(RECOVERY_CHECKPOINT);
    }

    private static int freePort() {
        try (ServerSocket s = new ServerSocket()) {
            s.setReuseAddress(true);
            s.bind(new InetSocketAddress(InetAddress.getByName(HOST), 0));
            return s.getLocalPort();
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
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
            // best effort: a leftover temporary directory does not affect other tests
        }
    }

    /** Fails the test: the broker runs from jars in test scope, so nothing outside the build can be missing. */
    private static RuntimeException unavailable(Exception cause) {
        Throwable root = cause;
        while (root.getCause() != null && root.getCause() != root) {
            root = root.getCause();
        }
        String msg = "the in-process Kafka broker did not start: " + cause
                + (root == cause ? "" : " (caused by " + root + ")");
        Assertions.fail(msg, cause);
        return new IllegalStateException(msg, cause);
    }
}
