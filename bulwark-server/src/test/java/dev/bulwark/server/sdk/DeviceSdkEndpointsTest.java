package dev.bulwark.server.sdk;

import static org.assertj.core.api.Assertions.assertThat;
import static org.awaitility.Awaitility.await;

import dev.bulwark.device.Backoff;
import dev.bulwark.device.BulwarkDevice;
import dev.bulwark.protocol.DeviceId;
import dev.bulwark.server.config.ServerConfig;
import dev.bulwark.server.testkit.Backend;
import dev.bulwark.server.testkit.NodePerTest;
import java.net.InetAddress;
import java.net.ServerSocket;
import java.net.URI;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.HashSet;
import java.util.List;
import java.util.Set;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedClass;
import org.junit.jupiter.params.provider.EnumSource;

/**
 * The device SDK with several MQTT endpoints against a real node: an endpoint nobody listens on is passed
 * over for the next one, and a lost connection moves on to the next endpoint, with every acknowledged
 * message stored once. (Failing over between the nodes of a cluster is {@code cluster.NodeKillFailoverTest}.)
 */
@ParameterizedClass
@EnumSource(value = Backend.class, names = "H2")
class DeviceSdkEndpointsTest extends NodePerTest {
    String token;
    Path home;
    final List<BulwarkDevice> devices = new ArrayList<>();

    @Override
    protected void configure(ServerConfig.Builder b) {
        b.deviceMessagesPerSecond(100_000);
    }

    @BeforeEach
    void start() throws Exception {
        token = server.tenantWithOperator("acme", "ops", "tenant-admin");
        home = Files.createTempDirectory("bulwark-sdk-endpoints-");
    }

    @AfterEach
    void stopDevices() {
        devices.forEach(BulwarkDevice::close);
    }

    private BulwarkDevice run(String id, List<URI> endpoints) throws InterruptedException {
        server.createDevice(token, id, "thermo");
        String enrollment = api.post("/api/v1/devices/" + id + "/enrollment-tokens", token, null).json().get("token").asText();
        BulwarkDevice d = BulwarkDevice.builder(DeviceId.of(id))
                .stateDir(home.resolve(id))
                .trustAnchor(server.dataDir().resolve("pki/ca.pem"))
                .est(URI.create("https://localhost:" + server.node().deviceHttpsPort()))
                .mqttEndpoints(endpoints)
                .enrollmentToken(enrollment)
                .backoff(new Backoff(Duration.ofMillis(100), Duration.ofSeconds(1)))
                .build().start();
        devices.add(d);
        assertThat(d.awaitConnected(Duration.ofSeconds(30))).as("connected: %s", d.stats()).isTrue();
        return d;
    }

    private static int closedPort() throws Exception {
        try (ServerSocket s = new ServerSocket(0, 1, InetAddress.getLoopbackAddress())) {
            return s.getLocalPort();
        }
    }

    private long stored(String id) {
        return server.stored(m -> m.deviceId().equals(id) && m.kind().equals("telemetry"));
    }

    private Set<String> distinctStored(String id) {
        Set<String> payloads = new HashSet<>();
        server.stored().stream().filter(m -> m.deviceId().equals(id) && m.kind().equals("telemetry"))
                .forEach(m -> payloads.add(new String(server.plaintext(m).orElseThrow(), StandardCharsets.UTF_8)));
        return payloads;
    }

    private static byte[] reading(int i) {
        return ("{\"seq\":" + i + "}").getBytes(StandardCharsets.UTF_8);
    }

    @Test
    void an_endpoint_nobody_listens_on_is_passed_over_for_the_next() throws Exception {
        URI dead = URI.create("ssl://127.0.0.1:" + closedPort());
        URI live = URI.create("ssl://localhost:" + server.node().mqttPort());
        BulwarkDevice d = run("thermo-1", List.of(dead, live));
        assertThat(d.endpoint()).isEqualTo(live);
        assertThat(d.stats().connectFailures()).isGreaterThanOrEqualTo(1);
        d.publishTelemetry(reading(1));
        await().atMost(Duration.ofSeconds(10)).until(() -> stored("thermo-1") == 1);
    }

    @Test
    void a_lost_connection_moves_on_to_the_next_endpoint_and_nothing_acknowledged_is_lost() throws Exception {
        // two addresses of the same node: which one the device uses is visible, the data goes to one place
        URI first = URI.create("ssl://localhost:" + server.node().mqttPort());
        URI second = URI.create("ssl://127.0.0.1:" + server.node().mqttPort());
        BulwarkDevice d = run("thermo-2", List.of(first, second));
        assertThat(d.endpoint()).isEqualTo(first);
        int total = 600;
        for (int i = 0; i < total / 3; i++) {
            d.publishTelemetry(reading(i));
        }
        await().atMost(Duration.ofSeconds(20)).until(() -> d.stats().acknowledged() >= total / 6);

        d.dropNetwork(Duration.ofMillis(200));
        await().atMost(Duration.ofSeconds(10)).until(() -> d.stats().connected() && d.stats().connects() == 2);
        assertThat(d.endpoint()).isEqualTo(second);
        for (int i = total / 3; i < 2 * total / 3; i++) {
            d.publishTelemetry(reading(i));
        }

        d.dropNetwork(Duration.ofMillis(200));
        await().atMost(Duration.ofSeconds(10)).until(() -> d.stats().connected() && d.stats().connects() == 3);
        assertThat(d.endpoint()).as("wrapped around").isEqualTo(first);
        for (int i = 2 * total / 3; i < total; i++) {
            d.publishTelemetry(reading(i));
        }

        await().atMost(Duration.ofSeconds(30)).until(() -> d.stats().acknowledged() == total);
        assertThat(distinctStored("thermo-2")).hasSize(total);
        // a message in flight when the connection dropped may have been stored without its PUBACK arriving: sent again, stored twice
        assertThat(stored("thermo-2")).isBetween((long) total, (long) total + 2L * 32);
        assertThat(d.stats().dropped()).isZero();
    }
}
