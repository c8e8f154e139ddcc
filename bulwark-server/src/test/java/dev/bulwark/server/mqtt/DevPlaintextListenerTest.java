package dev.bulwark.server.mqtt;

import static org.assertj.core.api.Assertions.assertThat;

import dev.bulwark.server.testkit.Backend;
import dev.bulwark.server.testkit.MqttKit;
import dev.bulwark.server.testkit.TestServer;
import java.util.List;
import org.junit.jupiter.api.Test;

/** The development plaintext listener: only when asked for, only on loopback, and still no anonymous access. */
class DevPlaintextListenerTest {

    @Test
    void the_plaintext_listener_binds_loopback_only_and_still_refuses_anonymous_clients() throws Exception {
        try (TestServer server = TestServer.start(Backend.H2, b -> b.devPlaintextPort(0).bindAddress("0.0.0.0"))) {
            int port = server.node().mqttPlaintextPort();
            assertThat(port).isPositive();
            String ports = java.nio.file.Files.readString(server.dataDir().resolve("run/ports.json"));
            assertThat(ports).contains("\"mqttPlaintextLoopback\"");
            // bound to 127.0.0.1 even though the node listens on all addresses
            String listening = MqttKit.run(List.of("ss", "-ltnH", "sport = :" + port), 10).output();
            assertThat(listening).containsPattern("(\\[::ffff:)?127\\.0\\.0\\.1\\]?:" + port + "\\s")
                    .doesNotContain("0.0.0.0:" + port).doesNotContain("*:" + port).doesNotContain("[::]:" + port);

            String token = server.tenantWithOperator("acme", "ops", "fleet-operator");
            server.createDevice(token, "dev-1", "m");
            String deviceToken = new MqttKit(server, token).deviceToken("dev-1");
            MqttKit.Run anonymous = MqttKit.run(List.of("mosquitto_pub", "-h", "127.0.0.1", "-p", String.valueOf(port), "-i", "dev-1",
                    "-q", "1", "-t", "devices/dev-1/telemetry", "-m", "x", "-d"), 20);
            assertThat(anonymous.output()).contains("CONNACK (5)");
            MqttKit.Run withToken = MqttKit.run(List.of("mosquitto_pub", "-h", "127.0.0.1", "-p", String.valueOf(port), "-i", "dev-1",
                    "-u", "dev-1@acme", "-P", deviceToken, "-q", "1", "-t", "devices/dev-1/telemetry", "-m", "x", "-d"), 20);
            assertThat(withToken.output()).contains("PUBACK");
        }
    }
}
