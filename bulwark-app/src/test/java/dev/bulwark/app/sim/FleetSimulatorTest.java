package dev.bulwark.app.sim;

import static org.assertj.core.api.Assertions.assertThat;
import static org.awaitility.Awaitility.await;

import dev.bulwark.app.BulwarkApp;
import dev.bulwark.device.Backoff;
import dev.bulwark.server.config.DataDir;
import dev.bulwark.server.testkit.Backend;
import dev.bulwark.server.testkit.NodePerTest;
import java.io.ByteArrayOutputStream;
import java.io.PrintStream;
import java.net.URI;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedClass;
import org.junit.jupiter.params.provider.EnumSource;

/** The fleet simulator against a real node, with each kind of fault it can inject. */
@ParameterizedClass
@EnumSource(value = Backend.class, names = "H2")
class FleetSimulatorTest extends NodePerTest {

    private long events(String type, String reason) {
        return server.count("SELECT COUNT(*) FROM security_events WHERE type = '" + type + "'"
                + (reason == null ? "" : " AND reason = '" + reason + "'"));
    }

    @Test
    void faults_show_up_as_the_security_events_they_should_and_healthy_devices_keep_reporting() throws Exception {
        String token = server.tenantWithOperator("acme", "ops", "tenant-admin");
        Path state = Files.createTempDirectory("bulwark-sim-");
        FleetSimulator.Settings settings = FleetSimulator.Settings.healthy(URI.create("https://localhost:" + server.node().httpsPort()), token,
                        server.dataDir().resolve("pki/ca.pem"), URI.create("https://localhost:" + server.node().deviceHttpsPort()),
                        URI.create("ssl://localhost:" + server.node().mqttPort()), state, 8, 2)
                .withFaults(0.25, 1, 1, 1).withBackoff(new Backoff(Duration.ofMillis(200), Duration.ofSeconds(2)));
        try (FleetSimulator sim = FleetSimulator.start(settings)) {
            assertThat(sim.roles()).containsEntry("healthy", 5).containsEntry("flaky", 2).containsEntry("cloned", 1).containsEntry("clone", 1)
                    .containsEntry("revoked-certificate", 1).containsEntry("expired-certificate", 1);
            await().atMost(Duration.ofSeconds(40)).until(() -> events("mqtt-authentication-failed", "certificate-expired") >= 2
                    && events("mqtt-authentication-failed", "certificate-revoked") >= 2
                    && events("duplicate-identity", null) >= 2);
            // every flaky device lost its network and came back
            await().atMost(Duration.ofSeconds(40)).until(() -> sim.fleet().stream().filter(d -> d.role().equals("flaky"))
                    .allMatch(d -> d.device().stats().connects() >= 2 && d.device().stats().connected()));
            // every enrolled device (not the expired one with its factory certificate) went through EST
            assertThat(server.count("SELECT COUNT(*) FROM audit_log WHERE action = 'device.certificate.enroll'")).isEqualTo(9);
            for (int i = 1; i <= 8; i++) {
                String id = String.format("sim-%04d", i);
                await().atMost(Duration.ofSeconds(20)).until(() ->
                        server.stored(m -> m.deviceId().equals(id)) > 0);
            }
            assertThat(server.stored(m -> m.deviceId().startsWith("sim-expired-") || m.deviceId().startsWith("sim-revoked-"))).isZero();
            assertThat(sim.summary().dropped()).isZero();
        }
    }

    @Test
    void the_simulate_command_runs_a_fleet_from_the_node_s_data_directory() throws Exception {
        String token = server.tenantWithOperator("acme", "ops", "tenant-admin");
        server.api().post("/api/v1/models", token, java.util.Map.of("id", "meter"));
        Path tokenFile = Files.createTempDirectory("bulwark-sim-").resolve("token");
        DataDir.writeSecret(tokenFile, token + "\n");
        PrintStream original = System.out;
        ByteArrayOutputStream out = new ByteArrayOutputStream();
        System.setOut(new PrintStream(out, true));
        int exit;
        try {
            exit = BulwarkApp.run("simulate", "--data", server.dataDir().toString(), "--token-file", tokenFile.toString(),
                    "--devices", "3", "--rate", "5", "--prefix", "cli", "--model", "meter", "--seconds", "1");
        } finally {
            System.setOut(original);
        }
        assertThat(exit).as(out.toString()).isZero();
        assertThat(out.toString()).contains("fleet stopped:").doesNotContain(token);
        assertThat(server.stored().stream().map(m -> m.deviceId()).filter(d -> d.startsWith("cli-")).distinct().count()).isEqualTo(3);
    }
}
