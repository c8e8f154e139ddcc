package dev.bulwark.server.sdk;

import static org.assertj.core.api.Assertions.assertThat;
import static org.awaitility.Awaitility.await;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import dev.bulwark.device.Backoff;
import dev.bulwark.device.BulwarkDevice;
import dev.bulwark.device.CredentialFiles;
import dev.bulwark.device.OutboundBuffer;
import dev.bulwark.protocol.DeviceId;
import dev.bulwark.server.config.ServerConfig;
import dev.bulwark.server.testkit.Backend;
import dev.bulwark.server.testkit.NodePerTest;
import java.net.URI;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.attribute.PosixFilePermissions;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedClass;
import org.junit.jupiter.params.provider.EnumSource;

/**
 * The device SDK against a real node: EST enrollment and renewal, an outage of the MQTT listener,
 * the drop policy, configuration and commands. Storage durability on both databases is covered by the
 * server's own tests; here the subject is the SDK, on the embedded database.
 */
@ParameterizedClass
@EnumSource(value = Backend.class, names = "H2")
class DeviceSdkTest extends NodePerTest {
    static final ObjectMapper JSON = new ObjectMapper();
    String token;
    Path home;
    final List<BulwarkDevice> devices = new ArrayList<>();

    @Override
    protected void configure(ServerConfig.Builder b) {
        b.deviceMessagesPerSecond(100_000).deviceCertificateTtl(Duration.ofSeconds(40));
    }

    @BeforeEach
    void start() throws Exception {
        token = server.tenantWithOperator("acme", "ops", "tenant-admin");
        home = Files.createTempDirectory("bulwark-sdk-");
    }

    @AfterEach
    void stopDevices() {
        devices.forEach(BulwarkDevice::close);
    }

    private BulwarkDevice.Builder device(String id) {
        server.createDevice(token, id, "thermo");
        String enrollment = api.post("/api/v1/devices/" + id + "/enrollment-tokens", token, null).json().get("token").asText();
        return BulwarkDevice.builder(DeviceId.of(id))
                .stateDir(home.resolve(id))
                .trustAnchor(server.dataDir().resolve("pki/ca.pem"))
                .est(URI.create("https://localhost:" + server.node().deviceHttpsPort()))
                .mqtt(URI.create("ssl://localhost:" + server.node().mqttPort()))
                .enrollmentToken(enrollment)
                .backoff(new Backoff(Duration.ofMillis(100), Duration.ofSeconds(1)));
    }

    private BulwarkDevice run(BulwarkDevice.Builder b) throws InterruptedException {
        BulwarkDevice d = b.build().start();
        devices.add(d);
        assertThat(d.awaitConnected(Duration.ofSeconds(30))).as("connected: %s", d.stats()).isTrue();
        return d;
    }

    private long stored(String id) {
        return server.stored(m -> m.deviceId().equals(id) && m.kind().equals("telemetry"));
    }

    private long distinctStored(String id) {
        // payloads in clear: each sealed copy is distinct anyway (a fresh nonce per message)
        return server.stored().stream().filter(m -> m.deviceId().equals(id) && m.kind().equals("telemetry"))
                .map(m -> new String(server.plaintext(m).orElseThrow(), java.nio.charset.StandardCharsets.UTF_8)).distinct().count();
    }

    private static byte[] reading(int i) {
        return ("{\"seq\":" + i + "}").getBytes(StandardCharsets.UTF_8);
    }

    @Test
    void a_device_enrolls_stores_its_credential_owner_only_and_renews_before_expiry() throws Exception {
        BulwarkDevice d = run(device("thermo-1").renewBefore(Duration.ofSeconds(35)));
        Path dir = home.resolve("thermo-1");
        assertThat(PosixFilePermissions.toString(Files.getPosixFilePermissions(dir))).isEqualTo("rwx------");
        assertThat(PosixFilePermissions.toString(Files.getPosixFilePermissions(dir.resolve(CredentialFiles.FILE)))).isEqualTo("rw-------");
        String firstSerial = d.certificate().getSerialNumber().toString(16);
        d.publishTelemetry(reading(1));
        await().atMost(Duration.ofSeconds(10)).until(() -> stored("thermo-1") == 1);

        // 40 s certificates renewed with 35 s left: within a few seconds, a new key and certificate
        await().atMost(Duration.ofSeconds(30)).until(() -> d.stats().renewals() >= 1 && d.stats().connected() && d.stats().connects() >= 2);
        String secondSerial = d.certificate().getSerialNumber().toString(16);
        assertThat(secondSerial).isNotEqualTo(firstSerial);
        assertThat(new CredentialFiles(dir).load().orElseThrow().certificate().getSerialNumber().toString(16)).isEqualTo(secondSerial);
        d.publishTelemetry(reading(2));
        await().atMost(Duration.ofSeconds(10)).until(() -> stored("thermo-1") == 2);
        JsonNode certs = api.get("/api/v1/devices/thermo-1/certificates", token).json().get("items");
        assertThat(certs.findValuesAsText("serial")).contains(firstSerial, secondSerial);
        assertThat(server.count("SELECT COUNT(*) FROM audit_log WHERE action = 'device.certificate.reenroll'")).isPositive();

        // a restarted device reuses its stored credential: no second enrollment (the token is spent)
        d.close();
        BulwarkDevice again = run(BulwarkDevice.builder(DeviceId.of("thermo-1")).stateDir(dir)
                .trustAnchor(server.dataDir().resolve("pki/ca.pem"))
                .est(URI.create("https://localhost:" + server.node().deviceHttpsPort()))
                .mqtt(URI.create("ssl://localhost:" + server.node().mqttPort())));
        assertThat(again.certificate().getSerialNumber().toString(16)).isEqualTo(secondSerial);
    }

    @Test
    void through_a_listener_outage_every_message_is_stored_exactly_once_and_the_buffered_ones_arrive() throws Exception {
        BulwarkDevice d = run(device("thermo-2"));
        int total = 3000;
        Thread producer = new Thread(() -> {
            for (int i = 0; i < total; i++) {
                d.publishTelemetry(reading(i));
                if (i % 10 == 0) {
                    try {
                        Thread.sleep(5);
                    } catch (InterruptedException e) {
                        return;
                    }
                }
            }
        });
        producer.start();
        await().atMost(Duration.ofSeconds(30)).until(() -> d.stats().acknowledged() > 300);
        server.node().mqtt().close(); // graceful: in-progress commits are acknowledged, then the sessions end
        Thread.sleep(2_000);
        long ackedDuringOutage = d.stats().acknowledged();
        assertThat(d.stats().connected()).isFalse();
        assertThat(stored("thermo-2")).isEqualTo(ackedDuringOutage); // acknowledged = stored, nothing more
        Thread.sleep(500);
        assertThat(d.stats().acknowledged()).isEqualTo(ackedDuringOutage);
        assertThat(d.stats().buffered()).isPositive();
        server.node().mqtt().start();
        producer.join();
        await().atMost(Duration.ofSeconds(60)).until(() -> d.stats().acknowledged() == total);
        assertThat(stored("thermo-2")).isEqualTo(total);
        assertThat(distinctStored("thermo-2")).isEqualTo(total);
        assertThat(d.stats().dropped()).isZero();
        assertThat(d.stats().connects()).isGreaterThanOrEqualTo(2);
    }

    @Test
    void a_full_buffer_applies_the_drop_policy_and_counts_every_drop() throws Exception {
        BulwarkDevice d = run(device("thermo-3").buffer(10, OutboundBuffer.DropPolicy.REJECT_NEWEST));
        server.node().mqtt().close();
        await().atMost(Duration.ofSeconds(10)).until(() -> !d.stats().connected());
        int refused = 0;
        for (int i = 0; i < 15; i++) {
            if (!d.publishTelemetry(reading(i))) {
                refused++;
            }
        }
        assertThat(refused).isEqualTo(5);
        assertThat(d.stats().dropped()).isEqualTo(5);
        server.node().mqtt().start();
        await().atMost(Duration.ofSeconds(30)).until(() -> d.stats().acknowledged() == 10);
        assertThat(stored("thermo-3")).isEqualTo(10);
        JsonNode items = api.get("/api/v1/devices/thermo-3/telemetry?limit=100", token).json().get("items");
        List<Integer> seqs = new ArrayList<>();
        items.forEach(i -> seqs.add(i.get("payload").get("seq").asInt()));
        assertThat(seqs).containsExactlyInAnyOrder(0, 1, 2, 3, 4, 5, 6, 7, 8, 9); // the oldest kept, the newest refused
    }

    @Test
    void reconnect_attempts_back_off_with_jitter_and_stay_under_the_cap() throws Exception {
        BulwarkDevice d = run(device("thermo-4"));
        server.node().mqtt().close();
        Thread.sleep(6_000);
        long failures = d.stats().connectFailures();
        // 100 ms doubling to a 1 s cap, uniformly jittered: about 6 s / 0.5 s ≈ 12 attempts, far from a busy loop
        assertThat(failures).isBetween(3L, 40L);
        server.node().mqtt().start();
        // back within the cap (1 s) plus connection set-up
        await().atMost(Duration.ofSeconds(5)).until(() -> d.stats().connected());
    }

    @Test
    void desired_configuration_and_commands_reach_the_handlers_and_their_answers_come_back() throws Exception {
        assertThat(api.post("/api/v1/models", token, Map.of("id", "thermo")).status()).isEqualTo(201);
        assertThat(api.send("PUT", "/api/v1/models/thermo/commands/reboot", token, "application/json",
                "{\"paramsSchema\":{\"type\":\"object\",\"properties\":{\"delay\":{\"type\":\"integer\"}}}}".getBytes()).status())
                .isEqualTo(200);
        List<Long> versions = new ArrayList<>();
        BulwarkDevice d = run(device("thermo-5")
                .onConfig((version, desired) -> {
                    versions.add(version);
                    return desired; // applied as asked
                })
                .onCommand(cmd -> cmd.name().equals("reboot")
                        ? BulwarkDevice.CommandResult.ok(JSON.createObjectNode().put("rebootedAfter", cmd.params().path("delay").asInt()))
                        : BulwarkDevice.CommandResult.failed("unknown command")));
        assertThat(api.send("PUT", "/api/v1/devices/thermo-5/config", token, "application/json", "{\"interval\":30}".getBytes()).status())
                .isEqualTo(200);
        await().atMost(Duration.ofSeconds(10)).until(() -> api.get("/api/v1/devices/thermo-5/config", token).json()
                .path("reported").path("interval").asInt() == 30);
        assertThat(api.get("/api/v1/devices/thermo-5/config", token).json().get("delta").size()).isZero();
        assertThat(versions).containsExactly(1L);

        String id = api.post("/api/v1/devices/thermo-5/commands", token, Map.of("name", "reboot", "params", Map.of("delay", 5)))
                .json().get("id").asText();
        await().atMost(Duration.ofSeconds(10)).until(() -> "succeeded".equals(
                api.get("/api/v1/devices/thermo-5/commands/" + id, token).json().path("state").asText()));
        assertThat(api.get("/api/v1/devices/thermo-5/commands/" + id, token).json().path("result").path("rebootedAfter").asInt())
                .isEqualTo(5);
        assertThat(d.stats().commandsHandled()).isEqualTo(1);
    }
}
