package dev.bulwark.server.pki;

import static org.assertj.core.api.Assertions.assertThat;

import dev.bulwark.server.cli.ApiClient;
import dev.bulwark.server.testkit.Backend;
import dev.bulwark.server.testkit.NodePerTest;
import dev.bulwark.server.testkit.MqttKit;
import dev.bulwark.server.testkit.Openssl;
import java.util.Map;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedClass;
import org.junit.jupiter.params.provider.EnumSource;

/**
 * A tenant registers its own (factory) CA only by proving it holds the CA's key: it signs a verification
 * certificate whose CN is a one-time challenge from the server. Then devices with factory certificates
 * from that CA can be registered and connect.
 */
@ParameterizedClass
@EnumSource(Backend.class)
class TenantCaRegistrationTest extends NodePerTest {
    String admin;
    Openssl openssl;

    @BeforeEach
    void start() {
        admin = server.tenantWithOperator("acme", "root", "tenant-admin");
        openssl = Openssl.inTempDir();
        makeCa("factory");
    }

    private void makeCa(String name) {
        openssl.run("req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes", "-keyout", name + ".key",
                "-subj", "/O=Acme/CN=" + name + " CA", "-days", "3650", "-out", name + ".pem",
                "-addext", "basicConstraints=critical,CA:TRUE", "-addext", "keyUsage=critical,keyCertSign,cRLSign");
    }

    /** A certificate with the given subject, issued (signed) by CA {@code ca}. */
    private String issue(String ca, String name, String subject) {
        openssl.p256Csr(name, subject);
        openssl.run("x509", "-req", "-in", name + ".csr", "-CA", ca + ".pem", "-CAkey", ca + ".key", "-days", "30",
                "-out", name + ".pem");
        return openssl.read(name + ".pem");
    }

    private String challenge(String token) {
        ApiClient.Result r = api.post("/api/v1/cas/challenges", token, null);
        assertThat(r.status()).isEqualTo(201);
        return r.json().get("challenge").asText();
    }

    private ApiClient.Result register(String token, String caPem, String verification) {
        return api.post("/api/v1/cas", token, Map.of("certificate", caPem, "verificationCertificate", verification));
    }

    private long cas() {
        return server.count("SELECT COUNT(*) FROM tenant_cas");
    }

    @Test
    void a_ca_is_registered_when_its_key_signed_the_challenge() {
        String verification = issue("factory", "pop", "/CN=" + challenge(admin));
        ApiClient.Result r = register(admin, openssl.read("factory.pem"), verification);
        assertThat(r.status()).as(r.body()).isEqualTo(201);
        assertThat(r.json().get("id").asText()).startsWith("ca-");
        assertThat(r.json().get("subject").asText()).contains("CN=factory CA");
        assertThat(api.get("/api/v1/cas", admin).json().get("items")).hasSize(1);
    }

    @Test
    void a_verification_certificate_signed_by_another_key_is_refused() {
        makeCa("impostor");
        String verification = issue("impostor", "pop", "/CN=" + challenge(admin));
        ApiClient.Result r = register(admin, openssl.read("factory.pem"), verification);
        assertThat(r.status()).isEqualTo(422);
        assertThat(r.json().get("detail").asText()).contains("proof of possession failed");
        assertThat(cas()).isZero();
    }

    @Test
    void an_unknown_reused_or_foreign_challenge_is_refused() {
        ApiClient.Result unknown = register(admin, openssl.read("factory.pem"), issue("factory", "pop0", "/CN=bulwark-pop-made-up"));
        assertThat(unknown.status()).isEqualTo(422);
        assertThat(unknown.json().get("detail").asText()).contains("not an open challenge");

        String otherAdmin = server.tenantWithOperator("globex", "root", "tenant-admin");
        String foreign = challenge(otherAdmin);
        assertThat(register(admin, openssl.read("factory.pem"), issue("factory", "pop1", "/CN=" + foreign)).status()).isEqualTo(422);

        String c = challenge(admin);
        assertThat(register(admin, openssl.read("factory.pem"), issue("factory", "pop2", "/CN=" + c)).status()).isEqualTo(201);
        makeCa("second");
        ApiClient.Result reused = register(admin, openssl.read("second.pem"), issue("second", "pop3", "/CN=" + c));
        assertThat(reused.status()).isEqualTo(422);
        assertThat(cas()).isEqualTo(1);
    }

    @Test
    void a_certificate_that_is_not_a_ca_is_refused() {
        String leaf = issue("factory", "leaf", "/CN=just-a-device");
        ApiClient.Result r = register(admin, leaf, issue("factory", "pop", "/CN=" + challenge(admin)));
        assertThat(r.status()).isEqualTo(422);
        assertThat(r.json().get("detail").asText()).contains("not a CA certificate");
        assertThat(cas()).isZero();
    }

    @Test
    void the_same_ca_cannot_be_registered_twice_by_any_tenant() {
        assertThat(register(admin, openssl.read("factory.pem"), issue("factory", "pop1", "/CN=" + challenge(admin))).status()).isEqualTo(201);
        assertThat(register(admin, openssl.read("factory.pem"), issue("factory", "pop2", "/CN=" + challenge(admin))).status()).isEqualTo(409);
        String otherAdmin = server.tenantWithOperator("globex", "root", "tenant-admin");
        assertThat(register(otherAdmin, openssl.read("factory.pem"), issue("factory", "pop3", "/CN=" + challenge(otherAdmin))).status())
                .isEqualTo(409);
        assertThat(cas()).isEqualTo(1);
    }

    @Test
    void factory_certificates_from_a_registered_ca_register_devices_that_then_connect_over_mqtt() {
        String caId = register(admin, openssl.read("factory.pem"), issue("factory", "pop", "/CN=" + challenge(admin))).json().get("id").asText();
        server.createDevice(admin, "sensor-77", "sensor");
        String factoryCert = issue("factory", "sensor-77", "/CN=sensor-77");
        ApiClient.Result r = api.post("/api/v1/devices/sensor-77/certificates", admin, Map.of("certificate", factoryCert));
        assertThat(r.status()).as(r.body()).isEqualTo(201);
        assertThat(r.json().get("issuer").asText()).isEqualTo(caId);

        MqttKit kit = new MqttKit(server, admin);
        MqttKit.Device d = new MqttKit.Device("sensor-77", openssl.file("sensor-77.pem"), openssl.file("sensor-77.key"), "");
        assertThat(kit.pub(d, "-i", "sensor-77", "-q", "1", "-t", "devices/sensor-77/telemetry", "-m", "1").output()).contains("PUBACK");

        // registered but then revoked: no new registrations, no more connections
        api.post("/api/v1/cas/" + caId + "/revoke", admin, null);
        server.createDevice(admin, "sensor-78", "sensor");
        ApiClient.Result after = api.post("/api/v1/devices/sensor-78/certificates", admin,
                Map.of("certificate", issue("factory", "sensor-78", "/CN=sensor-78")));
        assertThat(after.status()).isEqualTo(422);
        assertThat(kit.pub(d, "-i", "sensor-77", "-q", "1", "-t", "devices/sensor-77/telemetry", "-m", "2").output()).contains("CONNACK (5)");
    }

    @Test
    void factory_certificates_from_an_unregistered_ca_or_for_another_device_are_refused() {
        server.createDevice(admin, "sensor-1", "sensor");
        ApiClient.Result unregistered = api.post("/api/v1/devices/sensor-1/certificates", admin,
                Map.of("certificate", issue("factory", "s1", "/CN=sensor-1")));
        assertThat(unregistered.status()).isEqualTo(422);
        assertThat(unregistered.json().get("detail").asText()).contains("not issued by a CA registered");
        register(admin, openssl.read("factory.pem"), issue("factory", "pop", "/CN=" + challenge(admin)));
        ApiClient.Result wrongCn = api.post("/api/v1/devices/sensor-1/certificates", admin,
                Map.of("certificate", issue("factory", "s2", "/CN=sensor-2")));
        assertThat(wrongCn.status()).isEqualTo(422);
        assertThat(wrongCn.json().get("detail").asText()).contains("does not match the device id");
        assertThat(server.count("SELECT COUNT(*) FROM device_certificates")).isZero();
    }
}
