package dev.bulwark.server.ingress;

import static org.assertj.core.api.Assertions.assertThat;

import dev.bulwark.server.config.ServerConfig;
import dev.bulwark.server.testkit.Backend;
import dev.bulwark.server.testkit.MqttKit;
import dev.bulwark.server.testkit.NodePerTest;
import dev.bulwark.server.testkit.RawHttps;
import dev.bulwark.server.testkit.RawMqttClient;
import java.nio.charset.StandardCharsets;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedClass;
import org.junit.jupiter.params.provider.EnumSource;

/**
 * The tenant-quota step of the gate through each of the three ways in, on a node whose tenant quota (1 message per
 * second) is far below a device's rate, so that the quota and not the device's own budget refuses: MQTT 5 gets
 * DISCONNECT 0x97, HTTPS 429 with {@code Retry-After}, a Will published over the quota is recorded with detail
 * {@code will}; each refusal is a {@code tenant-rate-exceeded} event naming the device, and nothing refused is stored.
 */
@ParameterizedClass
@EnumSource(Backend.class)
class IngressTenantQuotaTest extends NodePerTest {
    static final byte[] JSON = "{\"celsius\":21}".getBytes(StandardCharsets.UTF_8);
    static final String REASON = "the tenant sends more than 1 messages per second";

    @Override
    protected void configure(ServerConfig.Builder b) {
        b.deviceMessagesPerSecond(100).tenantMessagesPerSecond(1);
    }

    @Test
    void a_publish_over_the_tenant_quota_disconnects_with_quota_exceeded() throws Exception {
        IngressKit f = new IngressKit(server);
        MqttKit.Device d = f.device("quota-pub");
        int acked = 0;
        int answer;
        try (RawMqttClient c = f.mqtt(d)) {
            assertThat(Mqtt5Wire.connect(c, d.id(), null)).isZero();
            f.exhaustTenantQuota();
            int id = 1;
            do {
                Mqtt5Wire.publish(c, "devices/" + d.id() + "/telemetry", 1, false, JSON, id++);
                answer = Mqtt5Wire.answer(c);
                acked += answer == Mqtt5Wire.PUBACK ? 1 : 0;
            } while (answer == Mqtt5Wire.PUBACK && id < 20);
            assertThat(answer).as("DISCONNECT reason code: quota exceeded").isEqualTo(0x97);
        }
        f.awaitEvent(d.id(), "tenant-rate-exceeded", REASON, "mqtt", null);
        assertThat(f.stored(d.id(), "mqtt")).isEqualTo(acked);
    }

    @Test
    void a_will_published_over_the_tenant_quota_is_recorded_and_not_stored() throws Exception {
        IngressKit f = new IngressKit(server);
        MqttKit.Device d = f.device("quota-will");
        try (RawMqttClient c = f.mqtt(d)) {
            assertThat(Mqtt5Wire.connect(c, d.id(), new Mqtt5Wire.Will("devices/" + d.id() + "/events", 1, false, JSON))).isZero();
            f.exhaustTenantQuota();
        } // lost without DISCONNECT: the Will is published, through the gate
        f.awaitEvent(d.id(), "tenant-rate-exceeded", REASON, "mqtt", "will");
        assertThat(f.stored(d.id(), "mqtt-will")).isZero();
    }

    @Test
    void a_post_over_the_tenant_quota_is_answered_429() {
        IngressKit f = new IngressKit(server);
        MqttKit.Device d = f.device("quota-https");
        int accepted = 0;
        RawHttps.Response r;
        try (IngressKit.Https h = f.https(d)) {
            f.exhaustTenantQuota();
            while ((r = h.post("/device/v1/telemetry", JSON)).status() == 204 && accepted < 20) {
                accepted++;
            }
        }
        assertThat(r.status()).isEqualTo(429);
        assertThat(r.headers()).containsEntry("retry-after", "1");
        assertThat(r.body()).contains("too many messages for this tenant");
        f.awaitEvent(d.id(), "tenant-rate-exceeded", REASON, "device-https", null);
        assertThat(f.stored(d.id(), "https")).isEqualTo(accepted);
    }
}
