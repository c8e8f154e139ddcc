package dev.bulwark.server.monitor;

import static org.assertj.core.api.Assertions.assertThat;
import static org.awaitility.Awaitility.await;

import com.fasterxml.jackson.databind.JsonNode;
import dev.bulwark.server.cli.ApiClient;
import dev.bulwark.server.config.DetectionSettings;
import dev.bulwark.server.config.ServerConfig;
import dev.bulwark.server.testkit.Backend;
import dev.bulwark.server.testkit.MqttKit;
import dev.bulwark.server.testkit.NodePerTest;
import dev.bulwark.server.testkit.RawMqttClient;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.stream.StreamSupport;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedClass;
import org.junit.jupiter.params.provider.EnumSource;

/**
 * Attacks and benign crowds driven by real MQTT clients ({@code mosquitto_pub} and a raw MQTT 3.1.1 client)
 * from different loopback addresses, each standing for another place on the network. Each scenario asserts
 * the detector's label, the response (ban or not) and that legitimate devices keep connecting.
 */
@ParameterizedClass
@EnumSource(Backend.class)
class SecurityScenariosTest extends NodePerTest {
    static final Set<String> ATTACK_LABELS = Set.of("brute-force", "enumeration", "distributed-attack", "cloned-device", "flooding",
            "misconfigured-device");
    String admin;
    String analyst;
    MqttKit kit;

    @Override
    protected void configure(ServerConfig.Builder b) {
        b.detection(DetectionSettings.defaults().withTarpit(3, Duration.ofMillis(400))).deviceMessagesPerSecond(20);
    }

    @BeforeEach
    void start() {
        admin = server.tenantWithOperator("acme", "root", "tenant-admin");
        analyst = server.operator("acme", "sam", "security-analyst");
        kit = new MqttKit(server, admin);
    }

    private int port() {
        return server.node().mqttPort();
    }

    /** CONNECT with a user name and a token from {@code from}; the CONNACK code, or -1 when the connection was closed. */
    private int tokenConnect(String from, String username, String token) {
        try (RawMqttClient c = new RawMqttClient(port(), kit.ca(), null, null, from)) {
            return c.connect(username.substring(0, username.indexOf('@')), username, token);
        } catch (java.io.IOException e) {
            return -1;
        }
    }

    private static String randomToken() {
        return "bwd." + dev.bulwark.server.crypto.Secrets.randomHex(8) + "." + dev.bulwark.server.crypto.Secrets.randomBase64Url(32);
    }

    private List<JsonNode> alerts(String token, String label) {
        JsonNode items = api.get("/api/v1/security/alerts?limit=1000" + (label == null ? "" : "&label=" + label), token).json().get("items");
        return StreamSupport.stream(items.spliterator(), false).toList();
    }

    private JsonNode awaitAlert(String token, String label, String subject) {
        await().atMost(Duration.ofSeconds(15)).until(() -> alerts(token, label).stream().anyMatch(a -> a.get("subject").asText().equals(subject)));
        return alerts(token, label).stream().filter(a -> a.get("subject").asText().equals(subject)).findFirst().orElseThrow();
    }

    private List<JsonNode> bans(String token) {
        return StreamSupport.stream(api.get("/api/v1/security/bans", token).json().get("items").spliterator(), false).toList();
    }

    private String legitPublish(MqttKit.Device d, String message) {
        return kit.pub(d, "-i", d.id(), "-q", "1", "-t", "devices/" + d.id() + "/telemetry", "-m", message).output();
    }

    @Test
    void brute_force_on_one_identity_is_labelled_the_source_banned_and_the_device_keeps_connecting() {
        MqttKit.Device victim = kit.device("thermo-1");
        String victimToken = kit.deviceToken("thermo-1");
        for (int i = 0; i < 6; i++) {
            // the real mosquitto client, from another address, guessing tokens for the victim's identity
            MqttKit.Run r = MqttKit.run(List.of("mosquitto_pub", "-h", "localhost", "-p", String.valueOf(port()), "--cafile",
                    kit.ca().toString(), "-A", "127.0.0.2", "-u", "thermo-1@acme", "-P", randomToken(), "-i", "thermo-1", "-t",
                    "devices/thermo-1/telemetry", "-m", "x", "-d"), 30);
            assertThat(r.output()).doesNotContain("PUBACK");
            // meanwhile the device itself, from its usual address, is never refused
            assertThat(legitPublish(victim, "{\"n\":" + i + "}")).contains("PUBACK");
        }
        JsonNode alert = awaitAlert(analyst, "brute-force", "acme/thermo-1");
        assertThat(alert.get("evidence").get("distinctSecrets").asInt()).isGreaterThanOrEqualTo(5);
        assertThat(alert.get("evidence").get("sources").toString()).contains("127.0.0.2").doesNotContain("127.0.0.1");
        assertThat(alert.get("recommendedAction").asText()).contains("banned");
        await().atMost(Duration.ofSeconds(5)).until(() -> bans(analyst).stream().anyMatch(b -> b.get("sourceAddress").asText().equals("127.0.0.2")));

        // the banned source is refused before authentication, and that is recorded
        assertThat(tokenConnect("127.0.0.2", "thermo-1@acme", victimToken)).isEqualTo(5);
        await().atMost(Duration.ofSeconds(5)).until(() -> server.count("SELECT COUNT(*) FROM security_events WHERE type = 'source-banned' "
                + "AND source_address = '127.0.0.2'") > 0);
        // the identity is not locked: certificate and token both work from the device's own address
        assertThat(legitPublish(victim, "{\"after\":true}")).contains("PUBACK");
        assertThat(tokenConnect("127.0.0.1", "thermo-1@acme", victimToken)).isZero();
        assertThat(alerts(analyst, null)).noneMatch(a -> a.get("label").asText().equals("misconfigured-device"));

        // an analyst lifts the ban; that is audited
        String banId = bans(analyst).stream().filter(b -> b.get("sourceAddress").asText().equals("127.0.0.2")).findFirst().orElseThrow()
                .get("id").asText();
        assertThat(api.delete("/api/v1/security/bans/" + banId, admin).status()).isEqualTo(403); // tenant-admin lacks the right
        assertThat(api.delete("/api/v1/security/bans/" + banId, analyst).status()).isEqualTo(200);
        assertThat(bans(analyst)).isEmpty();
        assertThat(server.count("SELECT COUNT(*) FROM audit_log WHERE action = 'security.ban.lift' AND outcome = 'success'")).isEqualTo(1);
        assertThat(tokenConnect("127.0.0.2", "thermo-1@acme", victimToken)).isZero();
    }

    @Test
    void many_identities_from_one_source_is_enumeration_and_bans_only_that_source() {
        MqttKit.Device bystander = kit.device("thermo-2");
        for (int i = 0; i < 10; i++) {
            assertThat(tokenConnect("127.0.0.3", "guess-" + i + "@acme", randomToken())).isNotZero();
        }
        // names that are no registered device are attributed to no tenant: the platform's alert and ban, and a
        // tenant's analyst sees nothing of it (nor could a caller push alerts into a tenant by naming it)
        String platform = server.adminToken();
        JsonNode alert = awaitAlert(platform, "enumeration", "127.0.0.3");
        assertThat(alert.get("evidence").get("distinctIdentities").asInt()).isGreaterThanOrEqualTo(10);
        await().atMost(Duration.ofSeconds(5)).until(() -> bans(platform).stream().anyMatch(b -> b.get("sourceAddress").asText().equals("127.0.0.3")));
        assertThat(bans(platform)).hasSize(1);
        assertThat(alerts(analyst, "enumeration")).isEmpty();
        assertThat(bans(analyst)).isEmpty();
        assertThat(legitPublish(bystander, "{}")).contains("PUBACK");
        // a device with a token that worked from the banned address before the ban keeps working from there
        server.createDevice(admin, "thermo-12", "thermo");
        String natToken = kit.deviceToken("thermo-12");
        assertThat(tokenConnect("127.0.0.13", "thermo-12@acme", natToken)).isZero();
        for (int i = 0; i < 10; i++) {
            assertThat(tokenConnect("127.0.0.13", "nobody-" + i + "@acme", randomToken())).isNotZero();
        }
        await().atMost(Duration.ofSeconds(15)).until(() -> bans(platform).stream().anyMatch(b -> b.get("sourceAddress").asText().equals("127.0.0.13")));
        assertThat(tokenConnect("127.0.0.13", "thermo-12@acme", natToken)).isZero();
        assertThat(tokenConnect("127.0.0.13", "thermo-12@acme", randomToken())).isEqualTo(5);
        // a device seen from a new address is a notable success, recorded (and not refused)
        try (RawMqttClient moved = new RawMqttClient(port(), kit.ca(), bystander.cert(), bystander.key(), "127.0.0.11")) {
            assertThat(moved.connect("thermo-2")).isZero();
        } catch (java.io.IOException e) {
            throw new java.io.UncheckedIOException(e);
        }
        await().atMost(Duration.ofSeconds(5)).until(() -> server.count("SELECT COUNT(*) FROM security_events WHERE type = 'new-source-address' "
                + "AND source_address = '127.0.0.11' AND tenant_id = 'acme'") == 1);
    }

    @Test
    void one_identity_attacked_from_many_sources_is_a_distributed_attack_and_every_source_is_banned() {
        MqttKit.Device victim = kit.device("thermo-3");
        for (int i = 4; i <= 8; i++) {
            assertThat(tokenConnect("127.0.0." + i, "thermo-3@acme", randomToken())).isNotZero();
        }
        JsonNode alert = awaitAlert(analyst, "distributed-attack", "acme/thermo-3");
        assertThat(alert.get("evidence").get("distinctSources").asInt()).isEqualTo(5);
        await().atMost(Duration.ofSeconds(5)).until(() -> bans(analyst).size() == 5);
        assertThat(legitPublish(victim, "{}")).contains("PUBACK");
    }

    @Test
    void a_device_retrying_with_its_expired_certificate_is_misconfigured_not_an_attack() {
        server.createDevice(admin, "thermo-4", "thermo");
        MqttKit.Device d = kit.certify("thermo-4", 1);
        server.clock().advance(Duration.ofDays(2)); // its one-day certificate has run out
        for (int i = 0; i < 4; i++) {
            assertThat(legitPublish(d, "{}")).doesNotContain("PUBACK");
            server.clock().advance(Duration.ofSeconds(5)); // retrying every 5 s
        }
        JsonNode alert = awaitAlert(analyst, "misconfigured-device", "acme/thermo-4");
        assertThat(alert.get("evidence").get("reasons").toString()).contains("certificate-expired");
        assertThat(alert.get("recommendedAction").asText()).contains("re-provision");
        assertThat(bans(analyst)).isEmpty();
        assertThat(alerts(analyst, null)).noneMatch(a -> Set.of("brute-force", "enumeration", "distributed-attack")
                .contains(a.get("label").asText()));
    }

    @Test
    void one_identity_connecting_alternately_from_two_places_is_a_cloned_device_and_quarantine_contains_it_in_a_second()
            throws Exception {
        MqttKit.Device d = kit.device("thermo-5");
        List<RawMqttClient> open = new ArrayList<>();
        try {
            for (int i = 0; i < 4; i++) {
                RawMqttClient c = new RawMqttClient(port(), kit.ca(), d.cert(), d.key(), i % 2 == 0 ? "127.0.0.1" : "127.0.0.9");
                assertThat(c.connect("thermo-5")).isZero();
                open.add(c);
            }
            JsonNode alert = awaitAlert(analyst, "cloned-device", "acme/thermo-5");
            assertThat(alert.get("evidence").get("sources").toString()).contains("127.0.0.1").contains("127.0.0.9");
            assertThat(alert.get("recommendedAction").asText()).contains("quarantine");
            assertThat(bans(analyst)).isEmpty();

            RawMqttClient live = open.get(open.size() - 1);
            long t0 = System.nanoTime();
            ApiClient.Result q = api.post("/api/v1/devices/thermo-5/quarantine", analyst,
                    Map.of("reason", "cloned-device alert " + alert.get("id").asText(), "revokeCredentials", false));
            assertThat(q.status()).as(q.body()).isEqualTo(200);
            assertThat(live.closedByServer()).isTrue();
            assertThat(Duration.ofNanos(System.nanoTime() - t0)).isLessThan(Duration.ofSeconds(1));
        } finally {
            for (RawMqttClient c : open) {
                c.close();
            }
        }
        // reconnects are refused and recorded; the data stays as evidence
        assertThat(legitPublish(d, "{}")).doesNotContain("PUBACK");
        await().atMost(Duration.ofSeconds(5)).until(() -> server.count("SELECT COUNT(*) FROM security_events WHERE reason = 'device-quarantined'") > 0);
        assertThat(api.get("/api/v1/devices/thermo-5", analyst).json().get("status").asText()).isEqualTo("quarantined");
        assertThat(server.count("SELECT COUNT(*) FROM device_certificates WHERE device_id = 'thermo-5'")).isEqualTo(1); // evidence kept
        assertThat(api.post("/api/v1/devices/thermo-5/enable", admin, null).status()).isEqualTo(409);
        assertThat(api.post("/api/v1/devices/thermo-5/disable", admin, null).status()).isEqualTo(409);
        // lifting it is audited, and the device connects again
        assertThat(api.delete("/api/v1/devices/thermo-5/quarantine", analyst).status()).isEqualTo(200);
        assertThat(server.count("SELECT COUNT(*) FROM audit_log WHERE action IN ('device.quarantine', 'device.quarantine.lift')")).isEqualTo(2);
        assertThat(legitPublish(d, "{}")).contains("PUBACK");
    }

    @Test
    void quarantine_can_revoke_the_credentials_too() {
        MqttKit.Device d = kit.device("thermo-6");
        String token = kit.deviceToken("thermo-6");
        ApiClient.Result q = api.post("/api/v1/devices/thermo-6/quarantine", admin, Map.of("reason", "stolen", "revokeCredentials", true));
        assertThat(q.json().get("credentialsRevoked").asInt()).isEqualTo(2);
        api.delete("/api/v1/devices/thermo-6/quarantine", admin);
        assertThat(legitPublish(d, "{}")).doesNotContain("PUBACK");
        assertThat(tokenConnect("127.0.0.1", "thermo-6@acme", token)).isNotZero();
        assertThat(api.post("/api/v1/devices/thermo-6/quarantine", admin, Map.of("revokeCredentials", true)).status()).isEqualTo(422);
    }

    @Test
    void a_device_exceeding_its_message_rate_again_and_again_is_flooding() throws Exception {
        MqttKit.Device d = kit.device("thermo-7");
        for (int round = 0; round < 3; round++) {
            try (RawMqttClient c = new RawMqttClient(port(), kit.ca(), d.cert(), d.key())) {
                assertThat(c.connect("thermo-7")).isZero();
                for (int i = 0; i < 60; i++) {
                    c.publishQos1("devices/thermo-7/telemetry", "{}".getBytes());
                }
                assertThat(c.closedByServer()).isTrue();
            }
        }
        JsonNode alert = awaitAlert(analyst, "flooding", "acme/thermo-7");
        assertThat(alert.get("evidence").get("violations").asInt()).isGreaterThanOrEqualTo(3);
        assertThat(bans(analyst)).isEmpty();
    }

    @Test
    void a_devices_reconnecting_is_labelled_retry_and_nothing_else() throws Exception {
        MqttKit.Device d = kit.device("thermo-8");
        for (int i = 0; i < 3; i++) {
            assertThat(legitPublish(d, "{}")).contains("PUBACK");
        }
        JsonNode alert = awaitAlert(analyst, "retry", "tenant:acme");
        assertThat(alert.get("severity").asText()).isEqualTo("info");
        assertThat(alert.get("evidence").get("sample").toString()).contains("acme/thermo-8");
        assertThat(alerts(analyst, null)).noneMatch(a -> ATTACK_LABELS.contains(a.get("label").asText()));
    }

    @Test
    void metrics_are_prometheus_text_for_platform_admins_only() {
        MqttKit.Device d = kit.device("thermo-9");
        tokenConnect("127.0.0.1", "thermo-9@acme", randomToken());
        assertThat(kit.pub(d, "-i", "thermo-9", "-q", "1", "-t", "devices/thermo-9/telemetry", "-m", "{}").output()).contains("PUBACK");
        System.gc(); // counters read from functions must survive a collection (the registry holds their sources weakly)
        ApiClient.Result m = api.get("/metrics", server.adminToken());
        assertThat(m.status()).isEqualTo(200);
        assertThat(m.body()).contains("bulwark_authentication_failures_total{channel=\"mqtt\",reason=\"token-unknown\"}")
                .contains("bulwark_connections").contains("bulwark_telemetry_commit_seconds").contains("bulwark_bans_active")
                .contains("bulwark_refusals_total");
        assertThat(m.body().lines().filter(l -> l.startsWith("bulwark_telemetry_messages_committed_total "))
                .mapToDouble(l -> Double.parseDouble(l.substring(l.indexOf(' ') + 1))).sum()).isGreaterThanOrEqualTo(1.0);
        assertThat(m.body()).doesNotContain("thermo-9").doesNotContain("127.0.0.1");
        assertThat(api.get("/metrics", admin).status()).isEqualTo(403);
        assertThat(api.get("/metrics", null).status()).isEqualTo(401);
    }

    static List<String> labels(Iterable<JsonNode> alerts) {
        List<String> out = new ArrayList<>();
        alerts.forEach(a -> out.add(a.get("label").asText()));
        return out;
    }
}
