package dev.bulwark.server.ingress;

import static org.assertj.core.api.Assertions.assertThat;

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
 * The writer step of the gate: a writer that takes nothing (here: stopped) is back-pressure, never a silent loss.
 * MQTT waits for room as long as the path allows, then tells the device the server is busy (MQTT 5: DISCONNECT
 * 0x89) with nothing acknowledged; HTTPS answers 503 with {@code Retry-After} at once; a Will is given up
 * unstored. None of it is a security event: the device did nothing wrong.
 */
@ParameterizedClass
@EnumSource(Backend.class)
class IngressSaturationTest extends NodePerTest {
    static final byte[] JSON = "{\"celsius\":21}".getBytes(StandardCharsets.UTF_8);

    @Test
    void with_the_writer_full_mqtt_gets_server_busy_https_gets_503_and_nothing_is_acknowledged_or_stored() throws Exception {
        IngressKit f = new IngressKit(server);
        MqttKit.Device pub = f.device("busy-pub");
        MqttKit.Device will = f.device("busy-will");
        MqttKit.Device https = f.device("busy-https");
        RawMqttClient willClient = f.mqtt(will);
        assertThat(Mqtt5Wire.connect(willClient, will.id(), new Mqtt5Wire.Will("devices/busy-will/events", 1, false, JSON))).isZero();
        server.node().writer().close(); // from now on the writer refuses every message, as a saturated one does

        try (RawMqttClient c = f.mqtt(pub)) {
            assertThat(Mqtt5Wire.connect(c, pub.id(), null)).isZero();
            Mqtt5Wire.publish(c, "devices/busy-pub/telemetry", 1, false, JSON, 1);
            assertThat(Mqtt5Wire.answer(c)).as("DISCONNECT reason code: server busy").isEqualTo(0x89);
        }
        try (IngressKit.Https h = f.https(https)) {
            RawHttps.Response r = h.post("/device/v1/telemetry", JSON);
            assertThat(r.status()).isEqualTo(503);
            assertThat(r.headers()).containsEntry("retry-after", "1");
            assertThat(r.body()).contains("urn:bulwark:problem:overloaded");
        }
        willClient.close(); // lost: the Will goes to the gate, whose writer takes nothing
        assertThat(f.stored(pub.id(), "mqtt") + f.stored(will.id(), "mqtt-will") + f.stored(https.id(), "https")).isZero();
        assertThat(server.count("SELECT COUNT(*) FROM security_events WHERE tenant_id = '" + f.tenant + "' AND type IN "
                + "('rate-exceeded', 'tenant-rate-exceeded', 'payload-too-large', 'mqtt-publish-refused', 'mqtt-will-refused')")).isZero();
    }
}
