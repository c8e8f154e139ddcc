package dev.bulwark.server.devicehttp;

import static org.assertj.core.api.Assertions.assertThat;
import static org.awaitility.Awaitility.await;

import dev.bulwark.server.config.ServerConfig;
import dev.bulwark.server.testkit.Backend;
import dev.bulwark.server.testkit.NodePerTest;
import dev.bulwark.server.testkit.MqttKit;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedClass;
import org.junit.jupiter.params.provider.EnumSource;

/** Telemetry over HTTPS for devices without an MQTT session, sent by the real curl. */
@ParameterizedClass
@EnumSource(Backend.class)
class DeviceHttpsTelemetryTest extends NodePerTest {
    MqttKit kit;
    String token;

    @Override
    protected void configure(ServerConfig.Builder b) {
        b.deviceMessagesPerSecond(5).maxPayloadBytes(2048);
    }

    @BeforeEach
    void start() {
        token = server.tenantWithOperator("acme", "ops", "fleet-operator");
        kit = new MqttKit(server, token);
    }

    /** curl's HTTP status code for a POST of {@code body}. */
    private int post(String path, String body, String... auth) {
        List<String> cmd = new ArrayList<>(List.of("curl", "-s", "-o", "/dev/null", "-w", "%{http_code}", "--cacert", kit.ca().toString(),
                "-X", "POST", "-H", "Content-Type: application/json", "--data-binary", body));
        cmd.addAll(List.of(auth));
        cmd.add("https://localhost:" + server.node().deviceHttpsPort() + path);
        return Integer.parseInt(MqttKit.run(cmd, 30).output().trim());
    }

    private long stored(String device) {
        return server.stored(m -> m.deviceId().equals(device) && m.channel().equals("https"));
    }

    private void awaitEvent(String type, String reason) {
        await().atMost(Duration.ofSeconds(10)).until(() -> server.count("SELECT COUNT(*) FROM security_events WHERE type = '" + type
                + "' AND reason = '" + reason + "' AND channel = 'device-https'") > 0);
    }

    @Test
    void a_device_posts_telemetry_with_its_certificate_and_the_204_means_it_is_stored() {
        MqttKit.Device d = kit.device("meter-1");
        assertThat(post("/device/v1/telemetry", "{\"kwh\":1.5}", "--cert", d.cert().toString(), "--key", d.key().toString())).isEqualTo(204);
        assertThat(stored("meter-1")).isEqualTo(1);
        assertThat(post("/device/v1/events", "{\"door\":\"open\"}", "--cert", d.cert().toString(), "--key", d.key().toString())).isEqualTo(204);
        assertThat(kit.telemetry("meter-1", "events").get(0).get("payload").get("door").asText()).isEqualTo("open");
        assertThat(kit.telemetry("meter-1", "telemetry").get(0).get("channel").asText()).isEqualTo("https");
    }

    @Test
    void a_device_token_works_as_basic_credentials() {
        server.createDevice(token, "meter-2", "meter");
        String deviceToken = kit.deviceToken("meter-2");
        assertThat(post("/device/v1/telemetry", "{}", "-u", "meter-2@acme:" + deviceToken)).isEqualTo(204);
        assertThat(post("/device/v1/telemetry", "{}", "-u", "meter-2@acme:" + deviceToken.substring(0, deviceToken.length() - 2) + "xx"))
                .isEqualTo(401);
        awaitEvent("device-https-authentication-failed", "token-wrong-secret");
        assertThat(stored("meter-2")).isEqualTo(1);
    }

    @Test
    void a_request_without_credentials_is_refused_and_recorded() {
        assertThat(post("/device/v1/telemetry", "{}")).isEqualTo(401);
        awaitEvent("device-https-authentication-failed", "no-credentials");
        assertThat(server.stored()).isEmpty();
    }

    @Test
    void a_revoked_certificate_is_refused_and_recorded() {
        MqttKit.Device d = kit.device("meter-3");
        server.api().post("/api/v1/devices/meter-3/certificates/" + d.serial() + "/revoke", token, null);
        assertThat(post("/device/v1/telemetry", "{}", "--cert", d.cert().toString(), "--key", d.key().toString())).isEqualTo(401);
        awaitEvent("device-https-authentication-failed", "certificate-revoked");
        assertThat(stored("meter-3")).isZero();
    }

    @Test
    void the_payload_limit_and_the_rate_limit_apply_as_over_mqtt() {
        MqttKit.Device d = kit.device("meter-4");
        assertThat(post("/device/v1/telemetry", "x".repeat(3000), "--cert", d.cert().toString(), "--key", d.key().toString())).isEqualTo(413);
        int tooMany = 0;
        for (int i = 0; i < 20; i++) {
            if (post("/device/v1/telemetry", "{}", "--cert", d.cert().toString(), "--key", d.key().toString()) == 429) {
                tooMany++;
            }
        }
        assertThat(tooMany).isPositive();
        awaitEvent("rate-exceeded", "more than 5 messages per second");
        assertThat(stored("meter-4")).isLessThan(20);
    }

    @Test
    void the_operator_api_token_is_no_device_credential() {
        assertThat(post("/device/v1/telemetry", "{}", "-H", "Authorization: Bearer " + token)).isEqualTo(401);
    }
}
