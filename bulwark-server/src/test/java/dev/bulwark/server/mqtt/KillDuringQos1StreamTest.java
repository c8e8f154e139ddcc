package dev.bulwark.server.mqtt;

import static org.assertj.core.api.Assertions.assertThat;
import static org.awaitility.Awaitility.await;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import dev.bulwark.server.cli.ApiClient;
import dev.bulwark.server.config.DataDir;
import dev.bulwark.server.testkit.Backend;
import dev.bulwark.server.testkit.Openssl;
import java.io.File;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.HashSet;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import java.util.stream.Collectors;
import java.util.stream.IntStream;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.Parameter;
import org.junit.jupiter.params.ParameterizedClass;
import org.junit.jupiter.params.provider.EnumSource;

/**
 * Nothing acknowledged is lost: a real {@code mosquitto_pub} streams QoS 1 telemetry to a server running
 * in its own JVM, which is killed with SIGKILL mid-stream. After a restart on the same data, every
 * message whose PUBACK the client received is stored, exactly once.
 */
@ParameterizedClass
@EnumSource(Backend.class)
class KillDuringQos1StreamTest {
    private static final int MESSAGES = 20_000;

    @Parameter
    Backend backend;

    @Test
    void every_message_acknowledged_before_a_kill_9_is_stored_after_restart() throws Exception {
        Path data = Files.createTempDirectory("bulwark-kill-");
        String db = backend.freshDatabase();
        Process server = startServer(data, db);
        Process client = null;
        try {
            JsonNode ports = ports(data, server);
            ApiClient api = new ApiClient("localhost", ports.get("https").asInt(), data.resolve("pki/ca.pem"));
            String admin = DataDir.read(data.resolve("bootstrap/admin.token")).trim();
            api.post("/api/v1/tenants", admin, Map.of("id", "acme", "name", "Acme"));
            String token = api.post("/api/v1/tenants/acme/operators", admin, Map.of("name", "ops", "roles", List.of("fleet-operator")))
                    .json().get("token").asText();
            api.post("/api/v1/devices", token, Map.of("id", "meter-1", "model", "meter"));
            Openssl openssl = Openssl.inTempDir();
            String csr = openssl.p256Csr("meter-1", "/CN=meter-1");
            Files.writeString(openssl.file("meter-1.pem"),
                    api.post("/api/v1/devices/meter-1/certificates", token, Map.of("csr", csr)).json().get("certificate").asText());
            Path lines = openssl.file("stream.txt");
            Files.writeString(lines, IntStream.rangeClosed(1, MESSAGES).mapToObj(i -> String.format("seq-%06d", i))
                    .collect(Collectors.joining("\n")) + "\n");

            Path clientLog = openssl.file("client.log");
            client = new ProcessBuilder("mosquitto_pub", "-h", "localhost", "-p", ports.get("mqtt").asText(),
                    "--cafile", data.resolve("pki/ca.pem").toString(), "--cert", openssl.file("meter-1.pem").toString(),
                    "--key", openssl.file("meter-1.key").toString(), "-i", "meter-1", "-q", "1", "-d", "-l",
                    "-t", "devices/meter-1/telemetry")
                    .redirectInput(lines.toFile()).redirectErrorStream(true).redirectOutput(clientLog.toFile()).start();
            await().atMost(Duration.ofSeconds(60)).until(() -> acked(clientLog).size() >= 500);

            server.destroyForcibly();   // SIGKILL: no shutdown hook, no flush
            server.waitFor();
            // mosquitto_pub -l keeps reconnecting; what it printed up to the kill is the record of acknowledgements
            client.destroy();
            client.waitFor();
            Set<Integer> acked = acked(clientLog);
            assertThat(acked.size()).isBetween(500, MESSAGES);

            server = startServer(data, db);
            JsonNode ports2 = ports(data, server);
            ApiClient api2 = new ApiClient("localhost", ports2.get("https").asInt(), data.resolve("pki/ca.pem"));
            List<String> stored = new ArrayList<>();
            String cursor = null;
            do {
                JsonNode page = api2.get("/api/v1/devices/meter-1/telemetry?limit=1000" + (cursor == null ? "" : "&cursor=" + cursor), token).json();
                page.get("items").forEach(i -> stored.add(new String(java.util.Base64.getDecoder().decode(i.get("payloadBase64").asText()))));
                cursor = page.get("nextCursor").isNull() ? null : page.get("nextCursor").asText();
            } while (cursor != null);

            Set<String> storedSet = new HashSet<>(stored);
            assertThat(stored).as("no message stored twice").hasSameSizeAs(storedSet);
            List<String> lost = acked.stream().sorted().map(i -> String.format("seq-%06d", i)).filter(p -> !storedSet.contains(p)).toList();
            assertThat(lost).as("acknowledged but lost").isEmpty();
        } finally {
            if (client != null) {
                client.destroyForcibly();
            }
            server.destroyForcibly();
            server.waitFor();
            Backend.drop(db);
        }
    }

    /** Message ids whose PUBACK mosquitto_pub reported; with -l, message id k carries line k. */
    private static Set<Integer> acked(Path log) throws java.io.IOException {
        Set<Integer> ids = new HashSet<>();
        if (!Files.exists(log)) {
            return ids;
        }
        Matcher m = Pattern.compile("received PUBACK \\(Mid: (\\d+)").matcher(Files.readString(log));
        while (m.find()) {
            ids.add(Integer.parseInt(m.group(1)));
        }
        return ids;
    }

    private static Process startServer(Path data, String db) throws java.io.IOException {
        Files.deleteIfExists(data.resolve("run/ports.json"));
        List<String> cmd = new ArrayList<>(List.of(ProcessHandle.current().info().command().orElse("java"), "-Xmx512m",
                "-cp", System.getProperty("java.class.path"), "dev.bulwark.server.cli.BulwarkCli", "serve",
                "--data", data.toString(), "--https-port", "0", "--mqtt-port", "0", "--device-https-port", "0", "--bind", "127.0.0.1", "--device-rate", "100000"));
        if (db != null) {
            cmd.add("--db");
            cmd.add(db);
        }
        return new ProcessBuilder(cmd).redirectErrorStream(true).redirectOutput(new File(data.toFile(), "server.log")).start();
    }

    private static JsonNode ports(Path data, Process server) {
        Path file = data.resolve("run/ports.json");
        await().atMost(Duration.ofSeconds(60)).until(() -> {
            if (!server.isAlive()) {
                throw new IllegalStateException("server exited: " + Files.readString(data.resolve("server.log")));
            }
            return Files.exists(file) && new ObjectMapper().readTree(file.toFile()).path("pid").asLong() == server.pid();
        });
        try {
            return new ObjectMapper().readTree(file.toFile());
        } catch (java.io.IOException e) {
            throw new IllegalStateException(e);
        }
    }
}
