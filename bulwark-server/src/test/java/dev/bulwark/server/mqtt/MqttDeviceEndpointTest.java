package dev.bulwark.server.mqtt;

import static org.assertj.core.api.Assertions.assertThat;
import static org.awaitility.Awaitility.await;

import dev.bulwark.server.testkit.Backend;
import dev.bulwark.server.testkit.MqttKit;
import dev.bulwark.server.testkit.RawMqttClient;
import dev.bulwark.server.testkit.TestServer;
import java.nio.file.Files;
import java.time.Duration;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.TestInstance;

/**
 * The device side of the contract, driven by the real mosquitto clients with keys and CSRs made by
 * openssl and certificates issued through the REST API. One attack per test; each refused, recorded as a
 * security event, and nothing stored.
 */
@TestInstance(TestInstance.Lifecycle.PER_CLASS)
class MqttDeviceEndpointTest {
    TestServer server;
    MqttKit kit;
    String token;

    @BeforeAll
    void start() {
        server = TestServer.start(Backend.H2, b -> b.deviceMessagesPerSecond(20).maxPayloadBytes(1024));
        token = server.tenantWithOperator("acme", "ops", "tenant-admin");
        kit = new MqttKit(server, token);
    }

    @AfterAll
    void stop() {
        server.close();
    }

    private void awaitEvent(String type, String reasonFragment) {
        await().atMost(Duration.ofSeconds(10)).until(() -> server.sql(h -> h.createQuery("SELECT COUNT(*) FROM security_events "
                + "WHERE type = :type AND reason LIKE :reason AND channel = 'mqtt'").bind("type", type)
                .bind("reason", "%" + reasonFragment + "%").mapTo(Long.class).one()) > 0);
    }

    private long stored(String device) {
        return server.stored(m -> m.deviceId().equals(device));
    }

    @Test
    void a_device_with_its_own_certificate_publishes_qos1_telemetry_that_is_stored_before_the_puback() {
        MqttKit.Device d = kit.device("thermo-0001");
        MqttKit.Run r = kit.pub(d, "-i", "thermo-0001", "-q", "1", "-t", "devices/thermo-0001/telemetry", "-m", "{\"celsius\":21.5}");
        assertThat(r.output()).contains("received PUBACK");
        // the PUBACK was sent after the commit: the row is there the moment the client has its ack
        assertThat(stored("thermo-0001")).isEqualTo(1);
        var items = kit.telemetry("thermo-0001", "telemetry");
        assertThat(items.get(0).get("payload").get("celsius").asDouble()).isEqualTo(21.5);
        assertThat(items.get(0).get("source").asText()).startsWith("127.0.0.1:");
        assertThat(items.get(0).get("qos").asInt()).isEqualTo(1);
    }

    @Test
    void mqtt_5_and_3_1_1_clients_and_qos_0_all_work_and_events_are_stored_apart_from_telemetry() {
        MqttKit.Device d = kit.device("thermo-0002");
        assertThat(kit.pub(d, "-i", "thermo-0002", "-q", "1", "-V", "mqttv5", "-t", "devices/thermo-0002/telemetry", "-m", "a").output()).contains("PUBACK");
        assertThat(kit.pub(d, "-i", "thermo-0002", "-q", "1", "-V", "mqttv311", "-t", "devices/thermo-0002/events", "-m", "door-open").output()).contains("PUBACK");
        assertThat(kit.pub(d, "-i", "thermo-0002", "-q", "0", "-t", "devices/thermo-0002/telemetry", "-m", "b").exit()).isZero();
        await().atMost(Duration.ofSeconds(5)).until(() -> stored("thermo-0002") == 3);
        assertThat(kit.telemetry("thermo-0002", "telemetry")).hasSize(2);
        assertThat(kit.telemetry("thermo-0002", "events").get(0).get("payloadBase64").asText()).isEqualTo("ZG9vci1vcGVu");
    }

    @Test
    void an_empty_client_id_is_assigned_the_device_id() {
        MqttKit.Device d = kit.device("thermo-0003");
        MqttKit.Run r = kit.pub(d, "-V", "mqttv5", "-q", "1", "-t", "devices/thermo-0003/telemetry", "-m", "x");
        assertThat(r.output()).contains("PUBACK");
        assertThat(stored("thermo-0003")).isEqualTo(1);
    }

    @Test
    void anonymous_connect_without_certificate_or_token_is_refused_and_recorded() {
        MqttKit.Run r = kit.pub(null, "-i", "thermo-0001", "-q", "1", "-t", "devices/thermo-0001/telemetry", "-m", "x");
        assertThat(r.output()).contains("CONNACK (5)");
        awaitEvent("mqtt-authentication-failed", "no-credentials");
    }

    @Test
    void a_certificate_from_an_unknown_ca_is_refused_and_recorded() throws Exception {
        var o = kit.openssl();
        o.run("req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes", "-keyout", "rogue-ca.key",
                "-subj", "/CN=Rogue CA", "-days", "5", "-out", "rogue-ca.pem", "-addext", "basicConstraints=critical,CA:TRUE");
        server.createDevice(token, "victim-1", "thermo");
        o.p256Csr("rogue", "/CN=victim-1/O=acme");
        o.run("x509", "-req", "-in", "rogue.csr", "-CA", "rogue-ca.pem", "-CAkey", "rogue-ca.key", "-days", "1", "-out", "rogue.pem");
        MqttKit.Device forged = new MqttKit.Device("victim-1", o.file("rogue.pem"), o.file("rogue.key"), "");
        assertThat(kit.pub(forged, "-i", "victim-1", "-q", "1", "-t", "devices/victim-1/telemetry", "-m", "x").output()).contains("CONNACK (5)");
        awaitEvent("mqtt-authentication-failed", "certificate-untrusted");
        assertThat(stored("victim-1")).isZero();
    }

    @Test
    void a_revoked_certificate_is_refused_and_recorded() {
        MqttKit.Device d = kit.device("thermo-rev");
        assertThat(server.api().post("/api/v1/devices/thermo-rev/certificates/" + d.serial() + "/revoke", token, null).status()).isEqualTo(200);
        assertThat(kit.pub(d, "-i", "thermo-rev", "-q", "1", "-t", "devices/thermo-rev/telemetry", "-m", "x").output()).contains("CONNACK (5)");
        awaitEvent("mqtt-authentication-failed", "certificate-revoked");
        assertThat(stored("thermo-rev")).isZero();
    }

    @Test
    void an_expired_certificate_is_refused_and_recorded() {
        server.createDevice(token, "thermo-exp", "thermo");
        String csr = kit.openssl().p256Csr("thermo-exp", "/CN=thermo-exp");
        var issued = server.api().post("/api/v1/devices/thermo-exp/certificates", token, Map.of("csr", csr, "validityDays", 1)).json();
        try {
            Files.writeString(kit.openssl().file("thermo-exp.pem"), issued.get("certificate").asText());
        } catch (java.io.IOException e) {
            throw new IllegalStateException(e);
        }
        MqttKit.Device d = new MqttKit.Device("thermo-exp", kit.openssl().file("thermo-exp.pem"), kit.openssl().file("thermo-exp.key"), "");
        server.clock().advance(Duration.ofDays(2));
        try {
            assertThat(kit.pub(d, "-i", "thermo-exp", "-q", "1", "-t", "devices/thermo-exp/telemetry", "-m", "x").output()).contains("CONNACK (5)");
            awaitEvent("mqtt-authentication-failed", "certificate-expired");
        } finally {
            server.clock().advance(Duration.ofDays(-2));
        }
        assertThat(stored("thermo-exp")).isZero();
    }

    @Test
    void a_disabled_device_is_refused_and_recorded() {
        MqttKit.Device d = kit.device("thermo-dis");
        server.api().post("/api/v1/devices/thermo-dis/disable", token, null);
        assertThat(kit.pub(d, "-i", "thermo-dis", "-q", "1", "-t", "devices/thermo-dis/telemetry", "-m", "x").output()).contains("CONNACK (5)");
        awaitEvent("mqtt-authentication-failed", "device-disabled");
    }

    @Test
    void a_client_id_other_than_the_device_id_is_refused_and_recorded() {
        MqttKit.Device d = kit.device("thermo-cid");
        assertThat(kit.pub(d, "-i", "thermo-other", "-q", "1", "-t", "devices/thermo-cid/telemetry", "-m", "x").output()).contains("CONNACK (2)");
        awaitEvent("mqtt-client-id-mismatch", "does not match");
        assertThat(stored("thermo-cid")).isZero();
    }

    @Test
    void publishing_to_another_devices_topic_disconnects_with_not_authorized_and_is_recorded() {
        MqttKit.Device d = kit.device("thermo-pub");
        kit.device("thermo-target");
        MqttKit.Run r = kit.pub(d, "-i", "thermo-pub", "-q", "1", "-V", "mqttv5", "-t", "devices/thermo-target/telemetry", "-m", "x");
        assertThat(r.output()).contains("DISCONNECT (135)").doesNotContain("PUBACK");
        awaitEvent("mqtt-publish-refused", "outside the device's own namespace");
        assertThat(stored("thermo-target")).isZero();
        MqttKit.Run v311 = kit.pub(d, "-i", "thermo-pub", "-q", "1", "-V", "mqttv311", "-t", "$SYS/broker/load", "-m", "x");
        assertThat(v311.output()).doesNotContain("PUBACK");
        assertThat(stored("thermo-pub")).isZero();
    }

    @Test
    void a_publish_with_wildcards_in_its_topic_closes_the_connection_and_is_recorded() throws Exception {
        MqttKit.Device d = kit.device("thermo-wild");
        try (RawMqttClient raw = new RawMqttClient(server.node().mqttPort(), kit.ca(), d.cert(), d.key())) {
            assertThat(raw.connect("thermo-wild")).isZero();
            raw.publishQos1("devices/+/telemetry", "x".getBytes());
            assertThat(raw.closedByServer()).isTrue();
        }
        try (RawMqttClient raw = new RawMqttClient(server.node().mqttPort(), kit.ca(), d.cert(), d.key())) {
            assertThat(raw.connect("thermo-wild")).isZero();
            raw.publishQos1("devices/thermo-wild/#", "x".getBytes());
            assertThat(raw.closedByServer()).isTrue();
        }
        awaitEvent("mqtt-publish-refused", "wildcard in a publish topic");
        assertThat(server.stored(m -> m.deviceId().equals("thermo-wild"))).isZero();
    }

    @Test
    void a_handshake_the_tls_layer_refuses_is_recorded() {
        var o = kit.openssl();
        String out;
        try {
            // TLS 1.2 with only a suite the server does not offer (no forward secrecy, no AEAD)
            out = o.run("s_client", "-connect", "127.0.0.1:" + server.node().mqttPort(), "-tls1_2", "-cipher", "AES128-SHA");
        } catch (IllegalStateException e) {
            out = e.getMessage();
        }
        assertThat(out).containsAnyOf("handshake failure", "alert");
        awaitEvent("tls-handshake-failed", "");
    }

    @Test
    void retained_messages_from_devices_are_refused_and_recorded() {
        MqttKit.Device d = kit.device("thermo-ret");
        MqttKit.Run r = kit.pub(d, "-i", "thermo-ret", "-q", "1", "-r", "-V", "mqttv5", "-t", "devices/thermo-ret/telemetry", "-m", "x");
        assertThat(r.output()).doesNotContain("PUBACK");
        awaitEvent("mqtt-publish-refused", "retained");
        assertThat(stored("thermo-ret")).isZero();
    }

    @Test
    void a_will_message_to_a_forbidden_topic_is_refused_at_connect() {
        MqttKit.Device d = kit.device("thermo-will");
        MqttKit.Run r = kit.pub(d, "-i", "thermo-will", "-q", "1", "--will-topic", "devices/thermo-0001/commands", "--will-payload", "reboot",
                "-t", "devices/thermo-will/telemetry", "-m", "x");
        assertThat(r.output()).contains("CONNACK (5)");
        awaitEvent("mqtt-will-refused", "outside the device's own namespace");
        MqttKit.Run wildcard = kit.pub(d, "-i", "thermo-will", "-q", "1", "--will-topic", "devices/+/commands", "--will-payload", "x",
                "-t", "devices/thermo-will/telemetry", "-m", "x");
        assertThat(wildcard.output()).doesNotContain("PUBACK");
        assertThat(stored("thermo-will")).isZero();
    }

    @Test
    void subscriptions_outside_the_devices_own_topics_get_a_failure_code_and_are_recorded() {
        MqttKit.Device d = kit.device("thermo-sub");
        kit.device("thermo-peer");
        for (String filter : List.of("#", "+/thermo-peer/commands", "devices/+/commands", "$SYS/#", "devices/thermo-peer/commands",
                "devices/thermo-sub/#", "devices/thermo-sub/telemetry")) {
            MqttKit.Run r = kit.sub(d, "-i", "thermo-sub", "-V", "mqttv5", "-t", filter, "-W", "2");
            assertThat(r.output()).as(filter).contains("All subscription requests were denied");
        }
        awaitEvent("mqtt-subscribe-refused", "wildcard");
        awaitEvent("mqtt-subscribe-refused", "outside the device's own namespace");
        MqttKit.Run ok = kit.sub(d, "-i", "thermo-sub", "-V", "mqttv5", "-t", "devices/thermo-sub/commands", "-W", "2");
        assertThat(ok.output()).doesNotContain("denied").contains("SUBACK");
    }

    @Test
    void an_oversized_payload_is_refused_and_recorded_and_not_stored() {
        MqttKit.Device d = kit.device("thermo-big");
        MqttKit.Run r = kit.pub(d, "-i", "thermo-big", "-q", "1", "-V", "mqttv5", "-t", "devices/thermo-big/telemetry", "-m", "x".repeat(1025));
        assertThat(r.output()).contains("DISCONNECT (149)").doesNotContain("PUBACK");
        awaitEvent("payload-too-large", "exceed the limit");
        assertThat(stored("thermo-big")).isZero();
    }

    @Test
    void exceeding_the_per_device_message_rate_disconnects_and_is_recorded() {
        MqttKit.Device d = kit.device("thermo-fast");
        MqttKit.Run r = kit.pub(d, "-i", "thermo-fast", "-q", "1", "-V", "mqttv5", "-t", "devices/thermo-fast/telemetry", "-m", "m",
                "--repeat", "200", "--repeat-delay", "0");
        assertThat(r.output()).contains("DISCONNECT (150)");
        awaitEvent("rate-exceeded", "messages per second");
        assertThat(stored("thermo-fast")).isLessThan(200);
    }

    @Test
    void reconnecting_does_not_reset_the_per_device_rate_budget() {
        MqttKit.Device d = kit.device("thermo-burst");
        // the budget is 20/s with bursts of 40: three quick connections of 30 messages each cannot all pass
        int disconnected = 0;
        for (int i = 0; i < 3; i++) {
            MqttKit.Run r = kit.pub(d, "-i", "thermo-burst", "-q", "1", "-V", "mqttv5", "-t", "devices/thermo-burst/telemetry",
                    "-m", "m", "--repeat", "30", "--repeat-delay", "0");
            if (r.output().contains("DISCONNECT (150)")) {
                disconnected++;
            }
        }
        assertThat(disconnected).isPositive();
        assertThat(stored("thermo-burst")).isLessThan(90);
    }

    @Test
    void a_device_token_works_as_password_with_device_at_tenant_as_user_name() {
        server.createDevice(token, "thermo-tok", "thermo");
        String deviceToken = kit.deviceToken("thermo-tok");
        MqttKit.Run ok = kit.pub(null, "-i", "thermo-tok", "-u", "thermo-tok@acme", "-P", deviceToken, "-q", "1",
                "-t", "devices/thermo-tok/telemetry", "-m", "x");
        assertThat(ok.output()).contains("PUBACK");
        MqttKit.Run wrong = kit.pub(null, "-i", "thermo-tok", "-u", "thermo-tok@acme", "-P",
                deviceToken.substring(0, deviceToken.length() - 4) + "AAAA", "-q", "1", "-t", "devices/thermo-tok/telemetry", "-m", "x");
        assertThat(wrong.output()).contains("CONNACK (4)");
        awaitEvent("mqtt-authentication-failed", "token-wrong-secret");
        MqttKit.Run otherTenant = kit.pub(null, "-i", "thermo-tok", "-u", "thermo-tok@globex", "-P", deviceToken, "-q", "1",
                "-t", "devices/thermo-tok/telemetry", "-m", "x");
        assertThat(otherTenant.output()).contains("CONNACK (4)");
        assertThat(stored("thermo-tok")).isEqualTo(1);
    }

    @Test
    void a_second_connection_with_the_same_identity_takes_over_and_both_sources_are_recorded() {
        MqttKit.Device d = kit.device("thermo-clone");
        Thread first = new Thread(() -> kit.sub(d, "-i", "thermo-clone", "-V", "mqttv5", "-t", "devices/thermo-clone/commands", "-W", "8"));
        first.start();
        await().atMost(Duration.ofSeconds(10)).until(() -> server.node().mqtt().sessions().connected(
                dev.bulwark.protocol.TenantId.of("acme"), dev.bulwark.protocol.DeviceId.of("thermo-clone")));
        MqttKit.Run second = kit.pub(d, "-i", "thermo-clone", "-q", "1", "-t", "devices/thermo-clone/telemetry", "-m", "x");
        assertThat(second.output()).contains("PUBACK");
        awaitEvent("duplicate-identity", "took over");
        String identity = server.sql(h -> h.createQuery("SELECT identity FROM security_events WHERE type = 'duplicate-identity' "
                + "AND identity LIKE '%thermo-clone%'").mapTo(String.class).first());
        assertThat(identity).contains("previous-source:127.0.0.1:").contains("new-source:127.0.0.1:");
    }

    @Test
    void the_plaintext_listener_does_not_exist_unless_asked_for() {
        assertThat(server.node().mqttPlaintextPort()).isEqualTo(-1);
    }
}
