package dev.bulwark.app;

import static org.assertj.core.api.Assertions.assertThat;
import static org.awaitility.Awaitility.await;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import dev.bulwark.device.Backoff;
import dev.bulwark.device.BulwarkDevice;
import dev.bulwark.protocol.DeviceId;
import dev.bulwark.server.cli.ApiClient;
import dev.bulwark.server.config.DataDir;
import dev.bulwark.server.testkit.Backend;
import dev.bulwark.server.testkit.KafkaBroker;
import java.io.IOException;
import java.net.InetSocketAddress;
import java.net.ServerSocket;
import java.net.URI;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * The README's "Scaled out" block, run in a shell as printed: three {@code bulwark serve} nodes in the background
 * on one PostgreSQL database, one Kafka broker and one data directory. Only what the text lets a user change is
 * replaced: {@code ./bulwark} by the application's main class on the test classpath (the {@code bulwark.jar}
 * the script runs), the database URL by a fresh schema, the broker address by the test broker's, and the ports
 * only where one is taken on this machine. Then every node answers on its REST port with the shared CA, and a
 * device connected to node 2 is closed when it is quarantined through node 1.
 */
class ScaledOutReadmeTest {
    private static final ObjectMapper JSON = new ObjectMapper();
    private static final String README_DB = "jdbc:postgresql://127.0.0.1:5432/bulwark?user=bulwark";
    private static final String README_KAFKA = "127.0.0.1:9092";

    @Test
    void the_three_nodes_of_the_readme_start_as_printed_answer_with_the_shared_ca_and_contain_a_device_across_nodes(@TempDir Path dir)
            throws Exception {
        String printed = dev.bulwark.server.testkit.Readme.block("sh", "--kafka 127.0.0.1:9092");
        assertThat(printed).contains("./bulwark serve", "DB='" + README_DB + "'", "--kafka " + README_KAFKA, "--data cluster-data");
        String db = Backend.POSTGRESQL.freshDatabase();
        assertThat(db).doesNotContain("'");
        List<ProcessHandle> nodes = new ArrayList<>();
        try (KafkaBroker broker = KafkaBroker.start()) {
            // the ports the block prints, 844$i, 888$i and 845$i, unless one is taken here
            Map<String, int[]> ports = new LinkedHashMap<>();
            ports.put("844", new int[] {8441, 8442, 8443});
            ports.put("888", new int[] {8881, 8882, 8883});
            ports.put("845", new int[] {8451, 8452, 8453});
            String script = printed.replace("./bulwark ", "\"$BULWARK_JAVA\" $BULWARK_JAVA_OPTS -cp \"$BULWARK_CP\" "
                            + BulwarkApp.class.getName() + " ")
                    .replace(README_DB, db).replace(README_KAFKA, broker.bootstrap());
            StringBuilder arrays = new StringBuilder();
            for (Map.Entry<String, int[]> e : ports.entrySet()) {
                if (java.util.Arrays.stream(e.getValue()).allMatch(ScaledOutReadmeTest::free)) {
                    continue;
                }
                int[] instead = {freePort(), freePort(), freePort()};
                e.setValue(instead);
                String name = "PORTS_" + e.getKey();
                arrays.append(name).append("=(0 ").append(instead[0]).append(' ').append(instead[1]).append(' ').append(instead[2]).append(")\n");
                script = script.replace("\"" + e.getKey() + "$i\"", "\"${" + name + "[$i]}\"");
            }
            script = arrays + script + "jobs -p > bulwark.pids\n";

            ProcessBuilder pb = new ProcessBuilder("bash", "-euo", "pipefail", "-c", script).directory(dir.toFile()).redirectErrorStream(true);
            pb.environment().put("BULWARK_JAVA", ProcessHandle.current().info().command().orElse("java"));
            pb.environment().put("BULWARK_JAVA_OPTS", "-Xmx320m -XX:+UseSerialGC -XX:TieredStopAtLevel=1 -Xss512k");
            pb.environment().put("BULWARK_CP", System.getProperty("java.class.path"));
            Process shell = pb.start();
            String out = new String(shell.getInputStream().readAllBytes());
            assertThat(shell.waitFor(30, TimeUnit.SECONDS)).isTrue();
            assertThat(shell.exitValue()).as(out).isZero();
            for (String pid : Files.readAllLines(dir.resolve("bulwark.pids"))) {
                Optional<ProcessHandle> node = ProcessHandle.of(Long.parseLong(pid.trim()));
                assertThat(node).as("a node exited at once: %s", logs(dir)).isPresent();
                nodes.add(node.get());
            }
            assertThat(nodes).as("three nodes started in the background").hasSize(3);

            Path data = dir.resolve("cluster-data");
            for (int i = 1; i <= 3; i++) {
                awaitBound(dir, data, i, nodes.get(i - 1)); // the jobs in the order they started: node-1, node-2, node-3
            }
            Path ca = data.resolve("pki/ca.pem");
            String admin = DataDir.read(data.resolve("bootstrap/admin.token")).trim();
            ApiClient[] api = new ApiClient[4];
            for (int i = 1; i <= 3; i++) {
                JsonNode bound = JSON.readTree(data.resolve("nodes/node-" + i + "/run/ports.json").toFile());
                assertThat(bound.path("https").asInt()).as("node-%d's REST port", i).isEqualTo(ports.get("844")[i - 1]);
                assertThat(bound.path("mqtt").asInt()).as("node-%d's MQTT port", i).isEqualTo(ports.get("888")[i - 1]);
                assertThat(bound.path("deviceHttps").asInt()).as("node-%d's device HTTPS port", i).isEqualTo(ports.get("845")[i - 1]);
                api[i] = new ApiClient("localhost", ports.get("844")[i - 1], ca);
                ApiClient.Result r = api[i].get("/api/v1/tenants", admin);
                assertThat(r.status()).as("node-%d: %s", i, r.body()).isEqualTo(200);
            }

            // a device enrolled and connected on node 2, quarantined through node 1
            ApiClient.Result t = api[1].post("/api/v1/tenants", admin, Map.of("id", "acme", "name", "Acme"));
            assertThat(t.status()).as(t.body()).isEqualTo(201);
            ApiClient.Result o = api[1].post("/api/v1/tenants/acme/operators", admin, Map.of("name", "ops", "roles", List.of("tenant-admin")));
            assertThat(o.status()).as(o.body()).isEqualTo(201);
            String token = o.json().get("token").asText();
            assertThat(api[1].post("/api/v1/devices", token, Map.of("id", "thermo-1", "model", "thermo")).status()).isEqualTo(201);
            ApiClient.Result enrollment = api[2].post("/api/v1/devices/thermo-1/enrollment-tokens", token, null);
            assertThat(enrollment.status()).as(enrollment.body()).isEqualTo(201);
            try (BulwarkDevice device = BulwarkDevice.builder(DeviceId.of("thermo-1"))
                    .stateDir(dir.resolve("thermo-1"))
                    .trustAnchor(ca)
                    .est(URI.create("https://localhost:" + ports.get("845")[1]))
                    .mqtt(URI.create("ssl://localhost:" + ports.get("888")[1]))
                    .enrollmentToken(enrollment.json().get("token").asText())
                    .backoff(new Backoff(Duration.ofMillis(200), Duration.ofSeconds(1)))
                    .build().start()) {
                assertThat(device.awaitConnected(Duration.ofSeconds(30))).as("connected to node-2: %s", device.stats()).isTrue();
                long connects = device.stats().connects();
                long start = System.nanoTime();
                ApiClient.Result q = api[1].post("/api/v1/devices/thermo-1/quarantine", token, Map.of("reason", "suspected clone"));
                assertThat(q.status()).as(q.body()).isBetween(200, 204);
                await("the device's session on node-2 closed").atMost(Duration.ofSeconds(5)).pollInterval(Duration.ofMillis(20))
                        .until(() -> !device.stats().connected());
                long closedMs = (System.nanoTime() - start) / 1_000_000;
                // and it stays out: node 2 refuses its reconnections
                await().during(Duration.ofSeconds(1)).atMost(Duration.ofSeconds(3)).until(() -> !device.stats().connected());
                assertThat(device.stats().connects()).as("closed %d ms after the quarantine through node-1", closedMs).isEqualTo(connects);
            }
        } finally {
            for (ProcessHandle n : nodes) {
                n.destroy();
            }
            for (ProcessHandle n : nodes) {
                try {
                    n.onExit().get(30, TimeUnit.SECONDS);
                } catch (java.util.concurrent.TimeoutException e) {
                    n.destroyForcibly();
                }
            }
            Backend.drop(db);
        }
    }

    /** Waits until node {@code i} (process {@code process}) has written its ports, failing with its log if it exited. */
    private static void awaitBound(Path dir, Path data, int i, ProcessHandle process) {
        Path ports = data.resolve("nodes/node-" + i + "/run/ports.json");
        await("node-" + i + " bound its ports").atMost(Duration.ofSeconds(90)).pollInterval(Duration.ofMillis(200)).until(() -> {
            if (!process.isAlive()) {
                Path log = dir.resolve("node-" + i + ".log");
                throw new AssertionError("node-" + i + " exited: " + (Files.exists(log) ? Files.readString(log) : "(no log)"));
            }
            return Files.exists(ports) && JSON.readTree(ports.toFile()).path("pid").asLong() == process.pid();
        });
    }

    private static String logs(Path dir) throws IOException {
        StringBuilder b = new StringBuilder();
        for (int i = 1; i <= 3; i++) {
            Path log = dir.resolve("node-" + i + ".log");
            b.append("\nnode-").append(i).append(": ").append(Files.exists(log) ? Files.readString(log) : "(no log)");
        }
        return b.toString();
    }

    private static boolean free(int port) {
        try (ServerSocket s = new ServerSocket()) {
            s.bind(new InetSocketAddress("0.0.0.0", port));
            return true;
        } catch (IOException e) {
            return false;
        }
    }

    private static int freePort() throws IOException {
        try (ServerSocket s = new ServerSocket(0)) {
            return s.getLocalPort();
        }
    }
}
