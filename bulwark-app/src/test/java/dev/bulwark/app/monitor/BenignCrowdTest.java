package dev.bulwark.app.monitor;

import static org.assertj.core.api.Assertions.assertThat;
import static org.awaitility.Awaitility.await;

import com.fasterxml.jackson.databind.JsonNode;
import dev.bulwark.app.sim.FleetSimulator;
import dev.bulwark.device.Backoff;
import dev.bulwark.server.testkit.Backend;
import dev.bulwark.server.testkit.NodePerTest;
import java.net.URI;
import java.nio.file.Files;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedClass;
import org.junit.jupiter.params.provider.EnumSource;

/**
 * Crowds that must not look like attacks: 200 devices (the SDK, enrolled over EST) reconnecting at once
 * after an outage of the MQTT listener, and a device on a flaky network. The detector calls it
 * {@code retry}; nothing is banned and no device is refused.
 */
@ParameterizedClass
@EnumSource(value = Backend.class, names = "H2")
class BenignCrowdTest extends NodePerTest {

    private List<String> labels(String token) {
        List<String> out = new ArrayList<>();
        api.get("/api/v1/security/alerts?limit=1000", token).json().get("items").forEach(a -> out.add(a.get("label").asText()));
        return out;
    }

    @Test
    void two_hundred_devices_reconnecting_after_an_outage_and_a_flaky_one_are_retries_not_attacks() throws Exception {
        String admin = server.tenantWithOperator("acme", "root", "tenant-admin", "security-analyst");
        FleetSimulator.Settings settings = FleetSimulator.Settings.healthy(URI.create("https://localhost:" + server.node().httpsPort()), admin,
                        server.dataDir().resolve("pki/ca.pem"), URI.create("https://localhost:" + server.node().deviceHttpsPort()),
                        URI.create("ssl://localhost:" + server.node().mqttPort()), Files.createTempDirectory("bulwark-crowd-"), 200, 0.5)
                .withBackoff(new Backoff(Duration.ofMillis(500), Duration.ofSeconds(4)));
        try (FleetSimulator fleet = FleetSimulator.start(settings)) {
            await().atMost(Duration.ofSeconds(120)).until(() -> fleet.summary().connected() == 200);

            server.node().mqtt().close(); // the outage: every session ends at once
            await().atMost(Duration.ofSeconds(20)).until(() -> fleet.summary().connected() == 0);
            Thread.sleep(2_000);
            server.node().mqtt().start();
            await().atMost(Duration.ofSeconds(60)).until(() -> fleet.summary().connected() == 200);

            var flaky = fleet.fleet().get(7).device();
            for (int i = 0; i < 3; i++) {
                long connects = flaky.stats().connects();
                flaky.dropNetwork(Duration.ofMillis(500));
                await().atMost(Duration.ofSeconds(20)).until(() -> flaky.stats().connects() > connects && flaky.stats().connected());
            }

            await().atMost(Duration.ofSeconds(10)).until(() -> labels(admin).contains("retry"));
            JsonNode retry = api.get("/api/v1/security/alerts?label=retry", admin).json().get("items").get(0);
            assertThat(retry.get("severity").asText()).isEqualTo("info");
            await().atMost(Duration.ofSeconds(10)).until(() -> api.get("/api/v1/security/alerts?label=retry", admin).json().get("items")
                    .get(0).get("evidence").get("identities").asInt() >= 200);
            assertThat(labels(admin)).containsOnly("retry");
            assertThat(api.get("/api/v1/security/bans", admin).json().get("items")).isEmpty();
            assertThat(server.count("SELECT COUNT(*) FROM security_events WHERE type LIKE '%authentication-failed'")).isZero();
            assertThat(fleet.summary().dropped()).isZero();
        }
    }
}
