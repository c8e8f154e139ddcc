package dev.bulwark.server.ingress;

import static org.assertj.core.api.Assertions.assertThat;
import static org.awaitility.Awaitility.await;

import dev.bulwark.server.testkit.MqttKit;
import dev.bulwark.server.testkit.RawHttps;
import dev.bulwark.server.testkit.RawMqttClient;
import dev.bulwark.server.testkit.TestServer;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.Map;
import java.util.concurrent.atomic.AtomicInteger;

/** The given/when vocabulary of the ingress tests: a fresh tenant per case, its devices, and the three ways in. */
final class IngressKit {
    private static final AtomicInteger TENANTS = new AtomicInteger();

    final TestServer server;
    final String tenant;
    final String token;
    final MqttKit kit;

    IngressKit(TestServer server) {
        this.server = server;
        this.tenant = "ingress-" + TENANTS.incrementAndGet();
        this.token = server.tenantWithOperator(tenant, "ops", "tenant-admin");
        this.kit = new MqttKit(server, token);
    }

    MqttKit.Device device(String id) {
        return kit.device(id);
    }

    /** A queued command for {@code device} (the model gets a {@code reboot} command on first use); returns its id. */
    String command(String device) {
        server.api().post("/api/v1/models", token, Map.of("id", "thermo"));
        server.api().send("PUT", "/api/v1/models/thermo/commands/reboot", token, "application/json",
                "{\"paramsSchema\":{\"type\":\"object\"}}".getBytes(StandardCharsets.UTF_8));
        var r = server.api().post("/api/v1/devices/" + device + "/commands", token, Map.of("name", "reboot", "ttlSeconds", 600));
        assertThat(r.status()).as(r.body()).isEqualTo(201);
        return r.json().get("id").asText();
    }

    String commandState(String device, String id) {
        return server.api().get("/api/v1/devices/" + device + "/commands/" + id, token).json().get("state").asText();
    }

    com.fasterxml.jackson.databind.JsonNode reportedConfig(String device) {
        return server.api().get("/api/v1/devices/" + device + "/config", token).json().get("reported");
    }

    RawMqttClient mqtt(MqttKit.Device d) throws IOException {
        return new RawMqttClient(server.node().mqttPort(), kit.ca(), d.cert(), d.key());
    }

    /** A keep-alive HTTPS connection of one device to the device API. */
    Https https(MqttKit.Device d) {
        return new Https(RawHttps.connect(server.node().deviceHttpsPort(), kit.ca(), d.cert(), d.key()));
    }

    static final class Https implements AutoCloseable {
        private final RawHttps raw;

        Https(RawHttps raw) {
            this.raw = raw;
        }

        RawHttps.Response post(String path, byte[] body) {
            raw.write("POST " + path + " HTTP/1.1\r\nHost: localhost\r\nContent-Type: application/json\r\nContent-Length: " + body.length
                    + "\r\n\r\n");
            raw.write(body);
            return raw.read();
        }

        @Override
        public void close() {
            raw.close();
        }
    }

    /**
     * Spends the tenant's message quota from three other devices over HTTPS, each within its own device rate: the
     * devices and connections are made first, then 12 posts go out back to back (the quota holds 6, and refills one message per 1/6 s: the caller
     * sends right after this returns).
     */
    void exhaustTenantQuota() {
        java.util.List<Https> spenders = new java.util.ArrayList<>();
        try {
            for (String id : new String[] {"spender-1", "spender-2", "spender-3"}) {
                spenders.add(https(device(id)));
            }
            for (int i = 0; i < 4; i++) {
                for (Https h : spenders) {
                    h.post("/device/v1/telemetry", "{}".getBytes(StandardCharsets.UTF_8));
                }
            }
        } finally {
            spenders.forEach(Https::close);
        }
    }

    /** Messages of this tenant's {@code device} stored with {@code channel} ({@code mqtt}, {@code mqtt-will}, {@code https}). */
    long stored(String device, String channel) {
        return server.stored(m -> m.tenantId().equals(tenant) && m.deviceId().equals(device) && m.channel().equals(channel));
    }

    long stored(String device, String channel, String kind) {
        return server.stored(m -> m.tenantId().equals(tenant) && m.deviceId().equals(device) && m.channel().equals(channel)
                && m.kind().equals(kind));
    }

    /** Waits for a security event of this tenant naming {@code device}; {@code detail} null matches any. */
    void awaitEvent(String device, String type, String reasonFragment, String channel, String detail) {
        await().atMost(Duration.ofSeconds(10)).until(() -> events(device, type, reasonFragment, channel, detail) > 0);
    }

    /** Security events of this tenant naming {@code device} (any device when null); {@code detail} null matches any. */
    long events(String device, String type, String reasonFragment, String channel, String detail) {
        return server.sql(h -> h.createQuery("SELECT COUNT(*) FROM security_events WHERE tenant_id = :t AND type = :type "
                        + "AND reason LIKE :reason AND channel = :channel AND identity LIKE :who"
                        + (detail == null ? "" : " AND detail = :detail"))
                .bind("t", tenant).bind("type", type).bind("reason", "%" + reasonFragment + "%").bind("channel", channel)
                .bind("who", device == null ? "%" : "device:" + tenant + "/" + device + " %")
                .bindMap(detail == null ? Map.of() : Map.of("detail", detail)).mapTo(Long.class).one());
    }
}
