package dev.bulwark.server.monitor;

import static org.assertj.core.api.Assertions.assertThat;
import static org.awaitility.Awaitility.await;

import com.fasterxml.jackson.databind.JsonNode;
import dev.bulwark.server.cli.ApiClient;
import dev.bulwark.server.config.DetectionSettings;
import dev.bulwark.server.config.ServerConfig;
import dev.bulwark.server.crypto.Secrets;
import dev.bulwark.server.testkit.Backend;
import dev.bulwark.server.testkit.MqttKit;
import dev.bulwark.server.testkit.NodePerTest;
import dev.bulwark.server.testkit.Openssl;
import dev.bulwark.server.testkit.RawMqttClient;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.stream.StreamSupport;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedClass;
import org.junit.jupiter.params.provider.EnumSource;

/**
 * A tenant sees the attacks on its own devices: attempts naming a registered device (a malformed token
 * included) or presenting a certificate of the tenant's CA are the tenant's events and alerts; names that
 * exist nowhere stay with the platform, with the same answer to the caller. Credential stuffing (a few
 * guesses against many registered identities) is labelled and banned; a ban protecting several tenants is
 * lifted only by the platform; devices behind one NAT failing with expired certificates are not stuffing.
 */
@ParameterizedClass
@EnumSource(Backend.class)
class AttackAttributionTest extends NodePerTest {
    String admin;
    String analyst;
    MqttKit kit;

    @Override
    protected void configure(ServerConfig.Builder b) {
        b.detection(DetectionSettings.defaults().withTarpit(3, Duration.ofMillis(300)));
    }

    @BeforeEach
    void start() {
        admin = server.tenantWithOperator("acme", "root", "tenant-admin");
        analyst = server.operator("acme", "sam", "security-analyst");
        kit = new MqttKit(server, admin);
    }

    private int tokenConnect(String from, String username, String token) {
        try (RawMqttClient c = new RawMqttClient(server.node().mqttPort(), kit.ca(), null, null, from)) {
            return c.connect(username.substring(0, username.indexOf('@')), username, token);
        } catch (java.io.IOException e) {
            return -1;
        }
    }

    private static String randomToken() {
        return "bwd." + Secrets.randomHex(8) + "." + Secrets.randomBase64Url(32);
    }

    private List<JsonNode> items(String path, String token) {
        ApiClient.Result r = api.get(path, token);
        assertThat(r.status()).as(r.body()).isEqualTo(200);
        return StreamSupport.stream(r.json().get("items").spliterator(), false).toList();
    }

    private List<JsonNode> events(String token) {
        return items("/api/v1/security/events?limit=1000", token);
    }

    private List<JsonNode> alerts(String token, String label) {
        return items("/api/v1/security/alerts?limit=1000&label=" + label, token);
    }

    @Test
    void malformed_tokens_naming_a_registered_device_are_the_tenants_events_and_alert_and_names_that_exist_nowhere_stay_with_the_platform() {
        server.createDevice(admin, "thermo-1", "thermo");
        String platform = server.adminToken();
        // the same answer whether the name exists or not: attribution is no existence oracle
        assertThat(tokenConnect("127.0.0.2", "thermo-1@acme", "not-a-token")).isEqualTo(4);
        assertThat(tokenConnect("127.0.0.3", "ghost-1@acme", "not-a-token")).isEqualTo(4);

        await().atMost(Duration.ofSeconds(10)).until(() -> events(analyst).stream().anyMatch(e ->
                e.get("type").asText().equals("mqtt-authentication-failed") && e.get("reason").asText().equals("token-malformed")
                        && e.get("sourceAddress").asText().equals("127.0.0.2") && e.get("sourcePort").asInt() > 0
                        && e.get("identity").asText().contains("acme/thermo-1")));
        await().atMost(Duration.ofSeconds(10)).until(() -> events(platform).stream().anyMatch(e ->
                e.get("sourceAddress").asText().equals("127.0.0.3") && e.get("reason").asText().equals("token-malformed")));
        assertThat(events(analyst).toString()).doesNotContain("ghost-1").doesNotContain("127.0.0.3");
        assertThat(events(platform).toString()).doesNotContain("thermo-1");

        // a brute force with malformed guesses is the tenant's alert too
        for (int i = 0; i < 5; i++) {
            // 4 (bad user name or password) or, once the brute force is detected, 5 (the source is banned)
            assertThat(tokenConnect("127.0.0.2", "thermo-1@acme", "garbage-" + i)).isIn(4, 5);
        }
        await().atMost(Duration.ofSeconds(15)).until(() -> alerts(analyst, "brute-force").stream()
                .anyMatch(a -> a.get("subject").asText().equals("acme/thermo-1")));
        assertThat(alerts(platform, "brute-force")).isEmpty();
    }

    @Test
    void an_unregistered_certificate_of_the_tenants_ca_is_attributed_to_the_tenant() throws Exception {
        Openssl openssl = Openssl.inTempDir();
        openssl.run("req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes", "-keyout", "factory.key",
                "-subj", "/O=Acme/CN=factory CA", "-days", "3650", "-out", "factory.pem",
                "-addext", "basicConstraints=critical,CA:TRUE", "-addext", "keyUsage=critical,keyCertSign,cRLSign");
        String challenge = api.post("/api/v1/cas/challenges", admin, null).json().get("challenge").asText();
        openssl.p256Csr("pop", "/CN=" + challenge);
        openssl.run("x509", "-req", "-in", "pop.csr", "-CA", "factory.pem", "-CAkey", "factory.key", "-days", "30", "-out", "pop.pem");
        ApiClient.Result ca = api.post("/api/v1/cas", admin, Map.of("certificate", openssl.read("factory.pem"),
                "verificationCertificate", openssl.read("pop.pem")));
        assertThat(ca.status()).as(ca.body()).isEqualTo(201);
        // a certificate the factory CA signed, never registered to a device (a stolen factory key, a forged device)
        openssl.p256Csr("rogue", "/CN=rogue-1");
        openssl.run("x509", "-req", "-in", "rogue.csr", "-CA", "factory.pem", "-CAkey", "factory.key", "-days", "30", "-out", "rogue.pem");
        try (RawMqttClient c = new RawMqttClient(server.node().mqttPort(), kit.ca(), openssl.file("rogue.pem"), openssl.file("rogue.key"),
                "127.0.0.4")) {
            assertThat(c.connect("rogue-1")).isEqualTo(5);
        }
        await().atMost(Duration.ofSeconds(10)).until(() -> events(analyst).stream().anyMatch(e ->
                e.get("reason").asText().equals("certificate-unregistered") && e.get("sourceAddress").asText().equals("127.0.0.4")));
    }

    @Test
    void fifteen_identities_three_guesses_each_from_one_source_is_credential_stuffing_and_a_ban_protecting_two_tenants_is_the_platforms()
            throws Exception {
        String globexAdmin = server.tenantWithOperator("globex", "root", "tenant-admin");
        String globexAnalyst = server.operator("globex", "gil", "security-analyst");
        MqttKit.Device bystander = kit.device("bystander");
        List<String> identities = new ArrayList<>();
        for (int i = 0; i < 5; i++) {
            server.createDevice(admin, "stuff-" + i, "thermo");
            server.createDevice(globexAdmin, "stuff-g" + i, "thermo");
            identities.add("stuff-" + i + "@acme");
            identities.add("stuff-g" + i + "@globex");
        }
        for (int i = 5; i < 10; i++) {
            server.createDevice(admin, "stuff-" + i, "thermo");
            identities.add("stuff-" + i + "@acme");
        }
        for (int round = 0; round < 3; round++) {
            for (String id : identities) {
                assertThat(tokenConnect("127.0.0.21", id, randomToken())).isNotZero();
            }
        }
        // each tenant sees its own alert, with only its own identities
        await().atMost(Duration.ofSeconds(15)).until(() -> !alerts(analyst, "credential-stuffing").isEmpty()
                && !alerts(globexAnalyst, "credential-stuffing").isEmpty());
        JsonNode acmeAlert = alerts(analyst, "credential-stuffing").get(0);
        assertThat(acmeAlert.get("subject").asText()).isEqualTo("127.0.0.21");
        assertThat(acmeAlert.get("evidence").get("identities").toString()).contains("acme/stuff-0").doesNotContain("globex");
        assertThat(alerts(globexAnalyst, "credential-stuffing").get(0).get("evidence").get("identities").toString())
                .contains("globex/stuff-g0").doesNotContain("acme");
        assertThat(alerts(server.adminToken(), "credential-stuffing")).isEmpty();
        assertThat(events(analyst).stream().filter(e -> e.get("sourceAddress").asText().equals("127.0.0.21")).count()).isGreaterThan(0);

        // the source is banned; the ban protects both tenants, so it is the platform's to lift
        await().atMost(Duration.ofSeconds(10)).until(() -> items("/api/v1/security/bans", server.adminToken()).stream()
                .anyMatch(b -> b.get("sourceAddress").asText().equals("127.0.0.21")));
        JsonNode ban = items("/api/v1/security/bans", analyst).stream().filter(b -> b.get("sourceAddress").asText().equals("127.0.0.21"))
                .findFirst().orElseThrow();
        assertThat(ban.get("scope").asText()).isEqualTo("several-tenants");
        assertThat(ban.toString()).doesNotContain("globex");
        assertThat(tokenConnect("127.0.0.21", "stuff-0@acme", randomToken())).isEqualTo(5); // refused before authentication

        ApiClient.Result refused = api.delete("/api/v1/security/bans/" + ban.get("id").asText(), analyst);
        assertThat(refused.status()).isEqualTo(403);
        assertThat(refused.json().get("detail").asText()).contains("platform action");
        assertThat(server.count("SELECT COUNT(*) FROM audit_log WHERE action = 'security.ban.lift' AND outcome = 'denied' "
                + "AND tenant_id = 'acme'")).isEqualTo(1);
        await().atMost(Duration.ofSeconds(10)).until(() -> server.count("SELECT COUNT(*) FROM security_events WHERE type = "
                + "'api-authorization-denied' AND tenant_id = 'acme' AND reason LIKE '%platform action%'") == 1);
        assertThat(items("/api/v1/security/bans", analyst)).isNotEmpty();

        assertThat(api.delete("/api/v1/security/bans/" + ban.get("id").asText(), server.adminToken()).status()).isEqualTo(200);
        assertThat(items("/api/v1/security/bans", analyst)).isEmpty();
        assertThat(kit.pub(bystander, "-i", "bystander", "-q", "1", "-t", "devices/bystander/telemetry", "-m", "{}").output())
                .contains("PUBACK");
    }

    @Test
    void devices_behind_one_address_retrying_with_expired_certificates_are_not_credential_stuffing() throws Exception {
        List<MqttKit.Device> fleet = new ArrayList<>();
        for (int i = 0; i < 12; i++) {
            server.createDevice(admin, "nat-" + i, "thermo");
            fleet.add(kit.certify("nat-" + i, 1));
        }
        server.clock().advance(Duration.ofDays(2)); // their one-day certificates ran out together
        for (int round = 0; round < 3; round++) {
            for (MqttKit.Device d : fleet) {
                try (RawMqttClient c = new RawMqttClient(server.node().mqttPort(), kit.ca(), d.cert(), d.key(), "127.0.0.31")) {
                    assertThat(c.connect(d.id())).isNotZero();
                } catch (java.io.IOException closed) {
                    // refused: the connection may be closed before the CONNACK is read
                }
            }
            server.clock().advance(Duration.ofSeconds(5));
        }
        await().atMost(Duration.ofSeconds(15)).until(() -> !alerts(analyst, "misconfigured-device").isEmpty());
        assertThat(alerts(analyst, "credential-stuffing")).isEmpty();
        assertThat(alerts(server.adminToken(), "credential-stuffing")).isEmpty();
        assertThat(alerts(analyst, "enumeration")).isEmpty();
        assertThat(items("/api/v1/security/bans", analyst)).isEmpty();
        assertThat(items("/api/v1/security/bans", server.adminToken())).isEmpty();
    }
}
