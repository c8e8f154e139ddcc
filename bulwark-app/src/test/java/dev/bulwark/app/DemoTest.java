package dev.bulwark.app;

import static org.assertj.core.api.Assertions.assertThat;

import dev.bulwark.app.sim.FleetSimulator;
import dev.bulwark.server.config.DataDir;
import dev.bulwark.server.testkit.Backend;
import dev.bulwark.server.testkit.Openssl;
import dev.bulwark.server.testkit.TestServer;
import java.io.ByteArrayOutputStream;
import java.io.PrintStream;
import java.nio.file.Files;
import java.nio.file.attribute.PosixFilePermissions;
import java.nio.file.Path;
import java.time.Duration;
import org.junit.jupiter.api.Test;
import static org.awaitility.Awaitility.await;

class DemoTest {

    @Test
    void the_demo_sets_up_a_tenant_an_operator_and_a_certified_device_and_a_second_run_reuses_them() throws Exception {
        try (TestServer server = TestServer.start(Backend.H2)) {
            DemoCommand.Summary first = DemoCommand.setUp(server.node());
            String token = DataDir.read(first.operatorTokenFile()).trim();
            assertThat(PosixFilePermissions.toString(Files.getPosixFilePermissions(first.operatorTokenFile()))).isEqualTo("rw-------");
            assertThat(PosixFilePermissions.toString(Files.getPosixFilePermissions(first.deviceDir().resolve("device.key")))).isEqualTo("rw-------");
            var device = server.api().get("/api/v1/devices/" + DemoCommand.DEVICE, token);
            assertThat(device.status()).isEqualTo(200);
            Openssl openssl = new Openssl(first.deviceDir());
            assertThat(openssl.run("verify", "-CAfile", server.dataDir().resolve("pki/ca.pem").toString(), "device.pem")).contains("OK");
            // the certificate belongs to the key generated on the (simulated) device
            assertThat(openssl.run("x509", "-in", "device.pem", "-noout", "-pubkey"))
                    .isEqualTo(openssl.run("pkey", "-in", "device.key", "-pubout"));

            // the demo device's files work with the real mosquitto client, as the demo prints
            var pub = dev.bulwark.server.testkit.MqttKit.run(java.util.List.of("mosquitto_pub", "-h", "localhost",
                    "-p", String.valueOf(server.node().mqttPort()), "--cafile", server.dataDir().resolve("pki/ca.pem").toString(),
                    "--cert", first.deviceDir().resolve("device.pem").toString(), "--key", first.deviceDir().resolve("device.key").toString(),
                    "-i", DemoCommand.DEVICE, "-q", "1", "-t", "devices/" + DemoCommand.DEVICE + "/telemetry", "-m", "{\"celsius\":21.5}", "-d"), 30);
            assertThat(pub.output()).contains("PUBACK");
            assertThat(server.api().get("/api/v1/devices/" + DemoCommand.DEVICE + "/telemetry", token).json().get("items")).hasSize(1);

            server.restart();
            DemoCommand.Summary second = DemoCommand.setUp(server.node());
            assertThat(second.certificateSerial()).isEqualTo(first.certificateSerial());
            assertThat(server.count("SELECT COUNT(*) FROM tenants WHERE id = 'demo'")).isEqualTo(1);
            assertThat(server.count("SELECT COUNT(*) FROM device_certificates")).isEqualTo(1);
            assertThat(server.api().get("/api/v1/devices", DataDir.read(second.operatorTokenFile()).trim()).status()).isEqualTo(200);
        }
    }

    @Test
    void the_demo_fleet_of_fifty_enrolls_over_est_sends_telemetry_and_a_second_run_reuses_its_credentials() throws Exception {
        try (TestServer server = TestServer.start(Backend.H2)) {
            DemoCommand.Summary summary = DemoCommand.setUp(server.node());
            String token = DataDir.read(summary.operatorTokenFile()).trim();
            try (FleetSimulator fleet = DemoCommand.startFleet(server.node(), summary, 50, 2)) {
                await().atMost(Duration.ofSeconds(90)).until(() -> server.stored().stream()
                        .map(m -> m.deviceId()).filter(d -> d.startsWith("fleet-")).distinct().count() == 50);
                assertThat(fleet.summary().connected()).isEqualTo(50);
                assertThat(fleet.summary().dropped()).isZero();
            }
            assertThat(server.count("SELECT COUNT(*) FROM audit_log WHERE action = 'device.certificate.enroll'")).isEqualTo(50);
            // every fleet device made its own key: 50 distinct public keys, each stored owner-only on the device
            assertThat(server.count("SELECT COUNT(DISTINCT key_fingerprint) FROM device_certificates WHERE device_id LIKE 'fleet-%'")).isEqualTo(50);
            Path credential = server.dataDir().resolve("demo/fleet/fleet-0001/credentials.pem");
            assertThat(PosixFilePermissions.toString(Files.getPosixFilePermissions(credential))).isEqualTo("rw-------");

            server.restart();
            DemoCommand.Summary again = DemoCommand.setUp(server.node());
            long before = server.stored(m -> m.deviceId().equals("fleet-0050"));
            try (FleetSimulator fleet = DemoCommand.startFleet(server.node(), again, 50, 2)) {
                await().atMost(Duration.ofSeconds(60)).until(() -> fleet.summary().connected() == 50
                        && server.stored(m -> m.deviceId().equals("fleet-0050")) > before);
            }
            assertThat(server.count("SELECT COUNT(*) FROM audit_log WHERE action = 'device.certificate.enroll'")).isEqualTo(50);
            assertThat(server.api().get("/api/v1/devices/fleet-0007/telemetry?limit=1", token).json().get("items").get(0)
                    .get("payload").has("celsius")).isTrue();
        }
    }

    @Test
    void every_command_has_help() {
        PrintStream original = System.out;
        ByteArrayOutputStream out = new ByteArrayOutputStream();
        System.setOut(new PrintStream(out));
        try {
            assertThat(BulwarkApp.run("--help")).isZero();
            assertThat(BulwarkApp.run("serve", "--help")).isZero();
            assertThat(BulwarkApp.run("demo", "--help")).isZero();
            assertThat(BulwarkApp.run("simulate", "--help")).isZero();
            assertThat(BulwarkApp.run("firmware", "sign", "--help")).isZero();
            assertThat(BulwarkApp.run("audit", "verify", "--help")).isZero();
        } finally {
            System.setOut(original);
        }
        assertThat(out.toString()).contains("serve").contains("demo").contains("--data").contains("--db").contains("--https-port");
    }
}
