package dev.bulwark.server.mqtt;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;
import static org.awaitility.Awaitility.await;

import dev.bulwark.server.testkit.Backend;
import dev.bulwark.server.testkit.HaProxy;
import dev.bulwark.server.testkit.MqttKit;
import dev.bulwark.server.testkit.RawMqttClient;
import dev.bulwark.server.testkit.TestServer;
import dev.bulwark.server.testkit.Tls;
import java.io.IOException;
import java.net.InetAddress;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.List;
import java.util.Map;
import java.util.concurrent.atomic.AtomicBoolean;
import javax.net.ssl.SSLSocket;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

/**
 * A node started with {@code proxyProtocol} behind the real HAProxy ({@code send-proxy-v2} on its server lines)
 * sees the client's address, not the load balancer's: a failed MQTT authentication and a refused REST call from
 * 127.0.0.2 are recorded with 127.0.0.2 (HAProxy connects from 127.0.0.1); a device works through HAProxy; a
 * connection straight to the node, without a PROXY header, is refused.
 */
class ProxyProtocolTest {
    static final AtomicBoolean PROXIED = new AtomicBoolean();
    static TestServer server;
    static MqttKit kit;
    static MqttKit.Device device;
    static HaProxy haproxy;

    @BeforeAll
    static void start() {
        server = TestServer.start(Backend.H2, b -> b.proxyProtocol(PROXIED.get()));
        // the tenant and the device through the node's own API, then the node behind HAProxy
        String admin = server.tenantWithOperator("acme", "root", "tenant-admin");
        kit = new MqttKit(server, admin);
        device = kit.device("thermo-1");
        PROXIED.set(true);
        server.restart();
        haproxy = HaProxy.start(Map.of("node-1", server.node().mqttPort()), Map.of("node-1", server.node().httpsPort()), true);
    }

    @AfterAll
    static void stop() {
        if (haproxy != null) {
            haproxy.close();
        }
        if (server != null) {
            server.close();
        }
    }

    private static List<String> sources(String type) {
        return server.sql(h -> h.createQuery("SELECT source_address FROM security_events WHERE type = :t")
                .bind("t", type).mapTo(String.class).list());
    }

    @Test
    void a_failed_mqtt_authentication_through_haproxy_is_recorded_with_the_clients_address() throws IOException {
        try (RawMqttClient c = new RawMqttClient(haproxy.port(), kit.ca(), null, null, "127.0.0.2")) {
            assertThat(c.connect("thermo-1", "thermo-1@acme", "not-a-token")).isEqualTo(4);
        }
        await().atMost(Duration.ofSeconds(10)).until(() -> sources("mqtt-authentication-failed").contains("127.0.0.2"));
        assertThat(sources("mqtt-authentication-failed")).doesNotContain("127.0.0.1");
    }

    @Test
    void a_device_authenticates_and_publishes_through_haproxy() throws IOException {
        try (RawMqttClient c = new RawMqttClient(haproxy.port(), kit.ca(), device.cert(), device.key(), "127.0.0.2")) {
            assertThat(c.connect("thermo-1")).isEqualTo(0);
            c.publishQos1("devices/thermo-1/telemetry", "{\"celsius\":21.5}".getBytes(StandardCharsets.UTF_8));
            byte[] ack = c.readPacket();
            assertThat(ack).as("PUBACK").isNotNull();
            assertThat(ack[0] & 0xF0).isEqualTo(0x40);
        }
        await().atMost(Duration.ofSeconds(10)).until(() -> !server.stored().isEmpty());
    }

    @Test
    void a_connection_straight_to_the_node_without_a_proxy_header_is_refused() {
        assertThatThrownBy(() -> {
            try (RawMqttClient c = new RawMqttClient(server.node().mqttPort(), kit.ca(), device.cert(), device.key())) {
                c.connect("thermo-1");
            }
        }).isInstanceOf(IOException.class);
    }

    @Test
    void a_refused_rest_call_through_haproxy_is_recorded_with_the_clients_address() throws IOException {
        SSLSocket s = (SSLSocket) Tls.clientFactory(server.dataDir().resolve("pki/ca.pem"), null, null)
                .createSocket(InetAddress.getByName("localhost"), haproxy.apiPort(), InetAddress.getByName("127.0.0.2"), 0);
        try (s) {
            s.setSoTimeout(10_000);
            s.getOutputStream().write(("GET /api/v1/devices HTTP/1.1\r\nHost: localhost\r\nAuthorization: Bearer not-a-token\r\n"
                    + "Connection: close\r\n\r\n").getBytes(StandardCharsets.US_ASCII));
            String status = new String(s.getInputStream().readNBytes(12), StandardCharsets.US_ASCII);
            assertThat(status).isEqualTo("HTTP/1.1 401");
        }
        await().atMost(Duration.ofSeconds(10)).until(() -> sources("api-authentication-failed").contains("127.0.0.2"));
        assertThat(sources("api-authentication-failed")).doesNotContain("127.0.0.1");
    }
}
