package dev.bulwark.server.testkit;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import dev.bulwark.server.cli.ApiClient;
import dev.bulwark.server.config.DataDir;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import org.awaitility.Awaitility;

/**
 * One Bulwark node in a JVM of its own, started the way an operator starts one ({@code bulwark serve}) with
 * the test classpath: for the tests that kill a node with SIGKILL, which an in-process node cannot survive.
 * Binds ephemeral ports on 127.0.0.1 and reports them in its {@code ports.json} ({@code <data>/nodes/<node>/run/}
 * in a cluster, {@code <data>/run/} standalone); its output goes to {@code <data>/<node>.log}.
 *
 * <p>In a cluster, every node gets the same {@code --db}, {@code --kafka}, topic prefix and {@code --data}
 * directory, and its own {@code --node-id}.
 */
public final class NodeProcess implements AutoCloseable {
    private static final Duration START = Duration.ofSeconds(60);

    /** What a node is started with; {@code kafka} null for a standalone node. */
    public record Settings(Path data, String db, String kafka, String topicPrefix, String nodeId, List<String> extra) {
        public Settings {
            extra = List.copyOf(extra);
        }

        /** A node of a cluster. */
        public static Settings cluster(Path data, String db, String kafka, String topicPrefix, String nodeId) {
            return new Settings(data, db, kafka, topicPrefix, nodeId, List.of());
        }

        public Settings with(String... options) {
            List<String> more = new ArrayList<>(extra);
            more.addAll(List.of(options));
            return new Settings(data, db, kafka, topicPrefix, nodeId, more);
        }
    }

    private final Settings settings;
    private Process process;
    private JsonNode ports;
    /** The ports a restart binds again (those of the first start), or null to pick free ones. */
    private JsonNode fixedPorts;

    private NodeProcess(Settings settings) {
        this.settings = settings;
    }

    /** Starts the node and waits until it has bound its ports. */
    public static NodeProcess start(Settings settings) {
        NodeProcess n = new NodeProcess(settings);
        n.launch();
        return n;
    }

    /**
     * Starts several nodes at once (they share the data directory's key material and take turns creating it),
     * then waits for each.
     */
    public static List<NodeProcess> startAll(List<Settings> all) {
        List<NodeProcess> nodes = new ArrayList<>();
        for (Settings s : all) {
            NodeProcess n = new NodeProcess(s);
            n.spawn();
            nodes.add(n);
        }
        try {
            nodes.forEach(NodeProcess::awaitPorts);
        } catch (RuntimeException | AssertionError e) {
            nodes.forEach(NodeProcess::close);
            throw e;
        }
        return nodes;
    }

    private void launch() {
        spawn();
        try {
            awaitPorts();
        } catch (RuntimeException | AssertionError e) {
            close();
            throw e;
        }
    }

    private void spawn() {
        try {
            Files.deleteIfExists(portsFile());
            List<String> cmd = new ArrayList<>(List.of(ProcessHandle.current().info().command().orElse("java"),
                    "-Xmx384m", "-XX:+UseSerialGC", "-XX:TieredStopAtLevel=1", "-Xss512k",
                    "-cp", System.getProperty("java.class.path"), "dev.bulwark.server.cli.BulwarkCli", "serve",
                    "--data", settings.data().toString(), "--https-port", port("https"), "--mqtt-port", port("mqtt"),
                    "--device-https-port", port("deviceHttps"), "--bind", "127.0.0.1", "--device-rate", "100000"));
            if (settings.db() != null) {
                cmd.addAll(List.of("--db", settings.db()));
            }
            if (settings.kafka() != null) {
                cmd.addAll(List.of("--kafka", settings.kafka(), "--node-id", settings.nodeId()));
                if (settings.topicPrefix() != null) {
                    cmd.addAll(List.of("--kafka-topic-prefix", settings.topicPrefix()));
                }
            }
            cmd.addAll(settings.extra());
            Path log = log();
            process = new ProcessBuilder(cmd).redirectErrorStream(true).redirectOutput(ProcessBuilder.Redirect.appendTo(log.toFile())).start();
            ports = null;
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }

    private String port(String name) {
        return fixedPorts == null ? "0" : fixedPorts.get(name).asText();
    }

    private void awaitPorts() {
        Path file = portsFile();
        Process p = process;
        Awaitility.await("node " + name() + " bound its ports").atMost(START).pollInterval(Duration.ofMillis(100)).until(() -> {
            if (!p.isAlive()) {
                throw new AssertionError("node " + name() + " exited (" + p.exitValue() + "): " + tail());
            }
            return Files.exists(file) && new ObjectMapper().readTree(file.toFile()).path("pid").asLong() == p.pid();
        });
        try {
            ports = new ObjectMapper().readTree(file.toFile());
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }

    /** SIGKILL: no shutdown hook, no flush, no goodbye to Kafka or to the devices. */
    public void kill() {
        process.destroyForcibly();
        waitFor();
    }

    /** SIGTERM: the node's shutdown hook closes it cleanly. */
    public void stop() {
        process.destroy();
        waitFor();
    }

    /**
     * Starts the node again with the same settings on the same ports (a load balancer in front of it knows them);
     * after {@link #kill()} or {@link #stop()}.
     */
    public void restart() {
        if (process.isAlive()) {
            stop();
        }
        fixedPorts = ports;
        launch();
    }

    public boolean isAlive() {
        return process.isAlive();
    }

    private void waitFor() {
        try {
            if (!process.waitFor(30, java.util.concurrent.TimeUnit.SECONDS)) {
                process.destroyForcibly();
                process.waitFor();
            }
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        }
    }

    public String name() {
        return settings.nodeId() == null ? "standalone" : settings.nodeId();
    }

    public long pid() {
        return process.pid();
    }

    public int httpsPort() {
        return ports.get("https").asInt();
    }

    public int mqttPort() {
        return ports.get("mqtt").asInt();
    }

    public int deviceHttpsPort() {
        return ports.get("deviceHttps").asInt();
    }

    /** The shared data directory. */
    public Path data() {
        return settings.data();
    }

    public Path caPem() {
        return settings.data().resolve("pki/ca.pem");
    }

    /** A REST API client of this node, trusting the platform CA only. */
    public ApiClient api() {
        return new ApiClient("localhost", httpsPort(), caPem());
    }

    /** The bootstrap platform-admin token (written by whichever node bootstrapped the database). */
    public String adminToken() {
        return DataDir.read(settings.data().resolve("bootstrap/admin.token")).trim();
    }

    /** {@code GET /metrics} (Prometheus text) with the platform-admin token. */
    public String metrics() {
        ApiClient.Result r = api().get("/metrics", adminToken());
        if (r.status() != 200) {
            throw new IllegalStateException("GET /metrics of " + name() + ": " + r.status());
        }
        return r.body();
    }

    /** One sample of {@code metric} (without labels) from {@link #metrics()}, or NaN if absent. */
    public double metric(String metric) {
        return sample(metrics(), metric);
    }

    /** One sample of {@code metric} (without labels) in a Prometheus text scrape, or NaN if absent. */
    public static double sample(String scrape, String metric) {
        Matcher m = Pattern.compile("(?m)^" + Pattern.quote(metric) + "(?:\\{[^}]*\\})? ([^ \\n]+)").matcher(scrape);
        return m.find() ? Double.parseDouble(m.group(1)) : Double.NaN;
    }

    public Path log() {
        return settings.data().resolve(name() + ".log");
    }

    /** The last lines of the node's output, for a failure message. */
    public String tail() {
        try {
            String s = Files.readString(log());
            return s.length() > 4000 ? s.substring(s.length() - 4000) : s;
        } catch (IOException e) {
            return "(no output)";
        }
    }

    private Path portsFile() {
        Path run = settings.kafka() == null ? settings.data().resolve("run") : settings.data().resolve("nodes/" + settings.nodeId() + "/run");
        return run.resolve("ports.json");
    }

    /** Kills the node if it still runs. */
    @Override
    public void close() {
        if (process != null && process.isAlive()) {
            kill();
        }
    }
}
