package dev.bulwark.server.pki;

import static org.assertj.core.api.Assertions.assertThat;
import static org.awaitility.Awaitility.await;

import java.time.Duration;

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
    void a_tenant_ca_past_its_validity_no_longer_authenticates_its_devices_at_connect_or_est_and_its_tenant_sees_why() throws Exception {
        String caId = register(admin, openssl.read("factory.pem"), issue("factory", "pop", "/CN=" + challenge(admin))).json().get("id").asText();
        server.createDevice(admin, "sensor-77", "sensor");
        assertThat(api.post("/api/v1/devices/sensor-77/certificates", admin,
                Map.of("certificate", issue("factory", "sensor-77", "/CN=sensor-77"))).status()).isEqualTo(201);
        MqttKit kit = new MqttKit(server, admin);
        MqttKit.Device d = new MqttKit.Device("sensor-77", openssl.file("sensor-77.pem"), openssl.file("sensor-77.key"), "");
        assertThat(kit.pub(d, "-i", "sensor-77", "-q", "1", "-t", "devices/sensor-77/telemetry", "-m", "1").output()).contains("PUBACK");

        // time passes: the CA's certificate (same name, same key) is now past its notAfter
        String expired = reissue("factory", -400, -1);
        server.sql(h -> h.execute("UPDATE tenant_cas SET pem = ? WHERE id = ?", expired, caId));
        assertThat(kit.pub(d, "-i", "sensor-77", "-q", "1", "-t", "devices/sensor-77/telemetry", "-m", "2").output()).contains("CONNACK (5)");
        await().atMost(Duration.ofSeconds(10)).until(() -> server.count(
                "SELECT COUNT(*) FROM security_events WHERE reason = 'ca-expired' AND tenant_id = 'acme'") > 0);

        // and one not valid yet vouches for nobody either; EST with a factory certificate of it is refused too
        String future = reissue("factory", 1, 400);
        server.sql(h -> h.execute("UPDATE tenant_cas SET pem = ? WHERE id = ?", future, caId));
        assertThat(kit.pub(d, "-i", "sensor-77", "-q", "1", "-t", "devices/sensor-77/telemetry", "-m", "3").output()).contains("CONNACK (5)");
        server.createDevice(admin, "sensor-79", "sensor");
        issue("factory", "sensor-79", "/CN=sensor-79");
        openssl.run("req", "-in", "sensor-79.csr", "-outform", "DER", "-out", "sensor-79.der");
        openssl.run("base64", "-in", "sensor-79.der", "-out", "sensor-79.b64");
        String status = MqttKit.run(java.util.List.of("curl", "-s", "-o", "/dev/null", "-w", "%{http_code}", "--cacert", kit.ca().toString(),
                "--cert", openssl.file("sensor-79.pem").toString(), "--key", openssl.file("sensor-79.key").toString(),
                "-H", "Content-Type: application/pkcs10", "--data-binary", "@" + openssl.file("sensor-79.b64"),
                "https://localhost:" + server.node().deviceHttpsPort() + "/.well-known/est/simpleenroll"), 30).output().trim();
        assertThat(status).isEqualTo("401");
        await().atMost(Duration.ofSeconds(10)).until(() -> server.count(
                "SELECT COUNT(*) FROM security_events WHERE reason LIKE '%ca-not-yet-valid%' AND tenant_id = 'acme'") >= 2);
        assertThat(server.count("SELECT COUNT(*) FROM device_certificates WHERE device_id = 'sensor-79'")).isZero();
    }

    /** CA {@code ca} re-issued with its own key and name, valid from {@code fromDays} to {@code toDays} from now. */
    private String reissue(String ca, int fromDays, int toDays) throws Exception {
        java.security.cert.X509Certificate old = Pem.certificate(openssl.read(ca + ".pem"));
        Object parsed;
        try (var r = new org.bouncycastle.openssl.PEMParser(new java.io.StringReader(openssl.read(ca + ".key")))) {
            parsed = r.readObject();
        }
        var converter = new org.bouncycastle.openssl.jcajce.JcaPEMKeyConverter();
        java.security.PrivateKey key = parsed instanceof org.bouncycastle.openssl.PEMKeyPair kp ? converter.getKeyPair(kp).getPrivate()
                : converter.getPrivateKey((org.bouncycastle.asn1.pkcs.PrivateKeyInfo) parsed);
        long now = System.currentTimeMillis();
        var name = org.bouncycastle.asn1.x500.X500Name.getInstance(old.getSubjectX500Principal().getEncoded());
        var builder = new org.bouncycastle.cert.jcajce.JcaX509v3CertificateBuilder(name, java.math.BigInteger.valueOf(now),
                new java.util.Date(now + fromDays * 86_400_000L), new java.util.Date(now + toDays * 86_400_000L), name, old.getPublicKey());
        builder.addExtension(org.bouncycastle.asn1.x509.Extension.basicConstraints, true, new org.bouncycastle.asn1.x509.BasicConstraints(true));
        var signer = new org.bouncycastle.operator.jcajce.JcaContentSignerBuilder("SHA256withECDSA").build(key);
        return Pem.encode(new org.bouncycastle.cert.jcajce.JcaX509CertificateConverter().getCertificate(builder.build(signer)));
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
