package dev.bulwark.server.ingress;

import static dev.bulwark.server.ingress.Admission.Reason.DEVICE_RATE;
import static dev.bulwark.server.ingress.Admission.Reason.FORBIDDEN_TOPIC;
import static dev.bulwark.server.ingress.Admission.Reason.PAYLOAD_INVALID;
import static dev.bulwark.server.ingress.Admission.Reason.PAYLOAD_TOO_LARGE;
import static dev.bulwark.server.ingress.Admission.Reason.RETAINED;
import static dev.bulwark.server.ingress.Admission.Reason.UNSUPPORTED_QOS;
import static dev.bulwark.server.ingress.Admission.Reason.WILDCARD_TOPIC;
import static org.assertj.core.api.Assertions.assertThat;
import static org.awaitility.Awaitility.await;
import static org.junit.jupiter.params.provider.Arguments.arguments;

import dev.bulwark.server.testkit.Backend;
import dev.bulwark.server.testkit.MqttKit;
import dev.bulwark.server.testkit.RawHttps;
import dev.bulwark.server.testkit.RawMqttClient;
import dev.bulwark.server.testkit.TestServer;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.stream.Stream;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.TestInstance;
import org.junit.jupiter.params.AfterParameterizedClassInvocation;
import org.junit.jupiter.params.BeforeParameterizedClassInvocation;
import org.junit.jupiter.params.Parameter;
import org.junit.jupiter.params.ParameterizedClass;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.Arguments;
import org.junit.jupiter.params.provider.EnumSource;
import org.junit.jupiter.params.provider.MethodSource;

/**
 * Every refusal of the ingress gate through each of the three ways in (MQTT PUBLISH, MQTT Will, device HTTPS),
 * against a real node: what the device observes (MQTT 5 reason code, HTTP status), the security event, and that
 * nothing was stored; and one admitted message per path and route. Each case runs in a tenant of its own, so the
 * device rates and tenant quotas of one case never spend another's.
 *
 * <p>The Will: what the message alone tells (topic, retain, QoS, size, the shape its route needs) is refused at
 * CONNECT, where the device still learns why (CONNACK reason code, {@code mqtt-will-refused}); the rest (device
 * rate, tenant quota, writer) applies when the Will is published, as to a PUBLISH, recorded with detail
 * {@code will}. A Will to {@code config/reported} is reported configuration, applied to the shadow like a PUBLISH
 * there, never telemetry: a device's last words cannot smuggle data past the control plane's checks.
 *
 * <p>Device HTTPS has no topic, retain flag or QoS a device could set (the route names the device's own topic),
 * and no control-plane route: those reasons cannot arise there, which {@link #https_names_no_topic_of_its_own} shows.
 * The tenant quota is driven by {@link IngressTenantQuotaTest} (a node whose quota is smaller than a device's rate),
 * a full writer by {@link IngressSaturationTest}.
 */
@ParameterizedClass
@EnumSource(Backend.class)
@TestInstance(TestInstance.Lifecycle.PER_CLASS)
class IngressMatrixTest {
    static final byte[] JSON = "{\"celsius\":21}".getBytes(StandardCharsets.UTF_8);
    static final byte[] TOO_LARGE = new byte[1025];

    @Parameter
    Backend backend;

    TestServer server;

    @BeforeParameterizedClassInvocation
    void node(Backend db) {
        server = TestServer.start(db, b -> b.deviceMessagesPerSecond(2).tenantMessagesPerSecond(1000).maxPayloadBytes(1024));
    }

    @AfterParameterizedClassInvocation
    void stop() {
        server.close();
    }

    static Stream<Arguments> refusals() {
        return Stream.of(
                arguments(WILDCARD_TOPIC, 0x90, "mqtt-publish-refused", "wildcard in a publish topic"),
                arguments(FORBIDDEN_TOPIC, 0x87, "mqtt-publish-refused", "topic outside the device's own namespace"),
                arguments(RETAINED, 0x9A, "mqtt-publish-refused", "retained messages from devices are not accepted"),
                arguments(UNSUPPORTED_QOS, 0x9B, "mqtt-publish-refused", "QoS 2 is not supported"),
                arguments(PAYLOAD_TOO_LARGE, 0x95, "payload-too-large", "1025 bytes exceed the limit of 1024"),
                arguments(PAYLOAD_INVALID, 0x99, "mqtt-payload-invalid", "config-reported must be a JSON object"),
                arguments(DEVICE_RATE, 0x96, "rate-exceeded", "more than 2 messages per second"));
    }

    /** The message that the gate refuses for {@code reason} on its own (topic, QoS, retain, payload). */
    record Bad(String topic, int qos, boolean retain, byte[] payload) {
        static Bad of(Admission.Reason reason, String device) {
            String own = "devices/" + device + "/telemetry";
            return switch (reason) {
                case WILDCARD_TOPIC -> new Bad("devices/" + device + "/+", 1, false, JSON);
                case FORBIDDEN_TOPIC -> new Bad("devices/someone-else/telemetry", 1, false, JSON);
                case RETAINED -> new Bad(own, 1, true, JSON);
                case UNSUPPORTED_QOS -> new Bad(own, 2, false, JSON);
                case PAYLOAD_TOO_LARGE -> new Bad(own, 1, false, TOO_LARGE);
                case PAYLOAD_INVALID -> new Bad("devices/" + device + "/config/reported", 1, false, "[1]".getBytes(StandardCharsets.UTF_8));
                default -> new Bad(own, 1, false, JSON);
            };
        }
    }

    @ParameterizedTest(name = "{0}: DISCONNECT 0x{1}")
    @MethodSource("refusals")
    void a_publish_the_gate_refuses_gets_its_mqtt_5_reason_code_is_recorded_and_is_not_stored(Admission.Reason reason, int code,
                                                                                              String type, String fragment) throws Exception {
        IngressKit f = new IngressKit(server);
        MqttKit.Device d = f.device("pub-1");
        int acked = 0;
        int answer;
        try (RawMqttClient c = f.mqtt(d)) {
            assertThat(Mqtt5Wire.connect(c, d.id(), null)).isZero();
            if (reason == DEVICE_RATE) {
                int id = 1;
                while ((answer = publishAndRead(c, new Bad("devices/" + d.id() + "/telemetry", 1, false, JSON), id++)) == Mqtt5Wire.PUBACK
                        && id < 20) {
                    acked++;
                }
            } else {
                answer = publishAndRead(c, Bad.of(reason, d.id()), 1);
            }
            assertThat(answer).as("reason code").isEqualTo(code);
            assertThat(c.closedByServer()).isTrue();
        }
        f.awaitEvent(d.id(), type, fragment, "mqtt", null);
        assertThat(f.stored(d.id(), "mqtt")).as("only what was acknowledged is stored").isEqualTo(acked);
    }

    private static int publishAndRead(RawMqttClient c, Bad m, int id) throws Exception {
        Mqtt5Wire.publish(c, m.topic(), m.qos(), m.retain(), m.payload(), id);
        return Mqtt5Wire.answer(c);
    }

    static Stream<Arguments> willRefusedAtConnect() {
        return refusals().filter(a -> ((Admission.Reason) a.get()[0]).ofTheMessage());
    }

    @ParameterizedTest(name = "{0}: CONNACK 0x{1}")
    @MethodSource("willRefusedAtConnect")
    void a_will_the_gate_would_refuse_is_refused_at_connect_with_its_reason_code_and_recorded(Admission.Reason reason, int code,
                                                                                              String type, String fragment) throws Exception {
        IngressKit f = new IngressKit(server);
        MqttKit.Device d = f.device("will-1");
        Bad w = Bad.of(reason, d.id());
        try (RawMqttClient c = f.mqtt(d)) {
            assertThat(Mqtt5Wire.connect(c, d.id(), new Mqtt5Wire.Will(w.topic(), w.qos(), w.retain(), w.payload())))
                    .as("CONNACK reason code").isEqualTo(code);
            assertThat(c.closedByServer()).isTrue();
        }
        f.awaitEvent(d.id(), "mqtt-will-refused", fragment, "mqtt", null);
        assertThat(f.stored(d.id(), "mqtt-will")).isZero();
        assertThat(f.events(d.id(), type, fragment, "mqtt", null)).as("recorded as the Will's refusal, not also as a PUBLISH's")
                .isZero();
    }

    @Test
    void a_will_published_over_the_device_rate_is_recorded_and_not_stored() throws Exception {
        IngressKit f = new IngressKit(server);
        MqttKit.Device d = f.device("will-2");
        try (RawMqttClient c = f.mqtt(d)) {
            assertThat(Mqtt5Wire.connect(c, d.id(), new Mqtt5Wire.Will("devices/" + d.id() + "/events", 1, false, JSON))).isZero();
            try (IngressKit.Https h = f.https(d)) {
                int status;
                int i = 0;
                while ((status = h.post("/device/v1/telemetry", JSON).status()) == 204 && ++i < 20) {
                    // the device spends its own budget over HTTPS: the budget is the device's, whatever the transport
                }
                assertThat(status).isEqualTo(429);
            }
        } // closed without DISCONNECT: the Will is published, through the gate
        f.awaitEvent(d.id(), "rate-exceeded", "more than 2 messages per second", "mqtt", "will");
        assertThat(f.stored(d.id(), "mqtt-will")).isZero();
    }

    static Stream<Arguments> httpsRefusals() {
        return Stream.of(
                arguments(PAYLOAD_TOO_LARGE, 413, "payload-too-large", "exceeds the limit of 1024 bytes"),
                arguments(DEVICE_RATE, 429, "rate-exceeded", "more than 2 messages per second"));
    }

    @ParameterizedTest(name = "{0}: HTTP {1}")
    @MethodSource("httpsRefusals")
    void a_post_the_gate_refuses_gets_its_http_status_is_recorded_and_is_not_stored(Admission.Reason reason, int status, String type,
                                                                                   String fragment) {
        IngressKit f = new IngressKit(server);
        MqttKit.Device d = f.device("https-1");
        int accepted = 0;
        RawHttps.Response r;
        try (IngressKit.Https h = f.https(d)) {
            if (reason == PAYLOAD_TOO_LARGE) {
                r = h.post("/device/v1/telemetry", TOO_LARGE);
            } else {
                while ((r = h.post("/device/v1/telemetry", JSON)).status() == 204 && accepted < 20) {
                    accepted++;
                }
            }
        }
        assertThat(r.status()).isEqualTo(status);
        if (status == 429) {
            assertThat(r.headers()).containsEntry("retry-after", "1");
            assertThat(r.body()).contains("too many messages; slow down");
        }
        f.awaitEvent(d.id(), type, fragment, "device-https", null);
        assertThat(f.stored(d.id(), "https")).as("only what was answered 204 is stored").isEqualTo(accepted);
    }

    @Test
    void https_names_no_topic_of_its_own() {
        IngressKit f = new IngressKit(server);
        MqttKit.Device d = f.device("https-2");
        try (IngressKit.Https h = f.https(d)) {
            assertThat(h.post("/device/v1/config/reported", "{}".getBytes(StandardCharsets.UTF_8)).status()).isEqualTo(404);
        }
        try (IngressKit.Https h = f.https(d)) {
            assertThat(h.post("/device/v1/devices/someone-else/telemetry", JSON).status()).isEqualTo(404);
        }
        assertThat(f.stored(d.id(), "https")).isZero();
    }

    // --- admitted: one message per path and per route ---

    /** The topic and payload of an admitted message of {@code route}, with the device's open command for a result. */
    private static Bad good(IngressKit f, Route route, String device) {
        return switch (route) {
            case TELEMETRY -> new Bad("devices/" + device + "/telemetry", 1, false, JSON);
            case EVENTS -> new Bad("devices/" + device + "/events", 1, false, JSON);
            case REPORTED_CONFIG -> new Bad("devices/" + device + "/config/reported", 1, false,
                    "{\"interval\":42}".getBytes(StandardCharsets.UTF_8));
            case COMMAND_RESULT -> new Bad("devices/" + device + "/commands/" + f.command(device) + "/result", 1, false,
                    "{\"status\":\"succeeded\",\"result\":{\"ok\":true}}".getBytes(StandardCharsets.UTF_8));
        };
    }

    private static void appliedOnTheControlPlane(IngressKit f, Route route, Bad m, String device) {
        if (route == Route.REPORTED_CONFIG) {
            await().atMost(Duration.ofSeconds(10)).until(() -> f.reportedConfig(device).path("interval").asInt() == 42);
        } else if (route == Route.COMMAND_RESULT) {
            String command = m.topic().split("/")[3];
            await().atMost(Duration.ofSeconds(10)).until(() -> f.commandState(device, command).equals("succeeded"));
        }
    }

    @ParameterizedTest(name = "{0}")
    @EnumSource(Route.class)
    void an_admitted_publish_is_stored_under_its_route_then_acknowledged(Route route) throws Exception {
        IngressKit f = new IngressKit(server);
        MqttKit.Device d = f.device("ok-pub");
        Bad m = good(f, route, d.id());
        try (RawMqttClient c = f.mqtt(d)) {
            assertThat(Mqtt5Wire.connect(c, d.id(), null)).isZero();
            assertThat(publishAndRead(c, m, 7)).isEqualTo(Mqtt5Wire.PUBACK);
        }
        // acknowledged only after the commit (and the apply): all of it is there the moment the PUBACK came
        assertThat(f.stored(d.id(), "mqtt", route.kind())).isEqualTo(1);
        appliedOnTheControlPlane(f, route, m, d.id());
    }

    @ParameterizedTest(name = "{0}")
    @EnumSource(Route.class)
    void an_admitted_will_is_stored_under_its_route_when_the_connection_is_lost(Route route) throws Exception {
        IngressKit f = new IngressKit(server);
        MqttKit.Device d = f.device("ok-will");
        Bad m = good(f, route, d.id());
        try (RawMqttClient c = f.mqtt(d)) {
            assertThat(Mqtt5Wire.connect(c, d.id(), new Mqtt5Wire.Will(m.topic(), 1, false, m.payload()))).isZero();
        } // lost without DISCONNECT
        await().atMost(Duration.ofSeconds(10)).until(() -> f.stored(d.id(), "mqtt-will", route.kind()) == 1);
        assertThat(f.stored(d.id(), "mqtt-will")).as("under its own route, and nothing else").isEqualTo(1);
        appliedOnTheControlPlane(f, route, m, d.id());
    }

    @Test
    void a_will_is_not_published_after_a_clean_disconnect() throws Exception {
        IngressKit f = new IngressKit(server);
        MqttKit.Device d = f.device("ok-will-2");
        try (RawMqttClient c = f.mqtt(d)) {
            assertThat(Mqtt5Wire.connect(c, d.id(), new Mqtt5Wire.Will("devices/" + d.id() + "/events", 1, false, JSON))).isZero();
            assertThat(publishAndRead(c, new Bad("devices/" + d.id() + "/telemetry", 1, false, JSON), 1)).isEqualTo(Mqtt5Wire.PUBACK);
            c.send(0xE0, 0x00); // DISCONNECT, normal
            assertThat(c.closedByServer()).isTrue();
        }
        assertThat(f.stored(d.id(), "mqtt")).isEqualTo(1);
        assertThat(f.stored(d.id(), "mqtt-will")).isZero();
    }

    @ParameterizedTest(name = "{0}")
    @EnumSource(value = Route.class, names = {"TELEMETRY", "EVENTS"})
    void an_admitted_post_is_stored_under_its_route_then_answered_204(Route route) {
        IngressKit f = new IngressKit(server);
        MqttKit.Device d = f.device("ok-https");
        try (IngressKit.Https h = f.https(d)) {
            assertThat(h.post("/device/v1/" + route.kind(), JSON).status()).isEqualTo(204);
        }
        assertThat(f.stored(d.id(), "https", route.kind())).isEqualTo(1);
    }
}
