package dev.bulwark.server.pki;

import static org.assertj.core.api.Assertions.assertThat;
import static org.awaitility.Awaitility.await;

import dev.bulwark.server.cli.ApiClient;
import dev.bulwark.server.testkit.Backend;
import dev.bulwark.server.testkit.MqttKit;
import dev.bulwark.server.testkit.NodePerTest;
import dev.bulwark.server.testkit.Openssl;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedClass;
import org.junit.jupiter.params.provider.EnumSource;

/**
 * EST (RFC 7030) enrollment as a device maker would try it without the SDK: keys and CSRs from
 * {@code openssl}, requests from {@code curl}, responses read back with {@code openssl pkcs7}.
 */
@ParameterizedClass
@EnumSource(Backend.class)
class EstEnrollmentTest extends NodePerTest {
    String admin;
    Openssl openssl;
    MqttKit kit;

    @BeforeEach
    void start() {
        admin = server.tenantWithOperator("acme", "root", "tenant-admin");
        openssl = Openssl.inTempDir();
        kit = new MqttKit(server, admin);
    }

    private String base() {
        return "https://localhost:" + server.node().deviceHttpsPort() + "/.well-known/est/";
    }

    private String enrollmentToken(String device) {
        ApiClient.Result r = api.post("/api/v1/devices/" + device + "/enrollment-tokens", admin, null);
        assertThat(r.status()).as(r.body()).isEqualTo(201);
        assertThat(r.json().get("oneTime").asBoolean()).isTrue();
        return r.json().get("token").asText();
    }

    /** A fresh P-256 key {@code name.key} and the base64 DER CSR {@code name.b64} for it. */
    private Path csr(String name, String subject) {
        openssl.p256Csr(name, subject);
        return base64Csr(name);
    }

    private Path base64Csr(String name) {
        openssl.run("req", "-in", name + ".csr", "-outform", "DER", "-out", name + ".der");
        openssl.run("base64", "-in", name + ".der", "-out", name + ".b64");
        return openssl.file(name + ".b64");
    }

    /** Runs curl; returns {HTTP status, body file}. */
    private int curl(String op, Path body, String out, String... extra) {
        List<String> cmd = new ArrayList<>(List.of("curl", "-s", "-o", openssl.file(out).toString(), "-w", "%{http_code}",
                "--cacert", kit.ca().toString()));
        if (body != null) {
            cmd.addAll(List.of("-H", "Content-Type: application/pkcs10", "--data-binary", "@" + body));
        }
        cmd.addAll(List.of(extra));
        cmd.add(base() + op);
        int status = Integer.parseInt(MqttKit.run(cmd, 30).output().trim());
        return status;
    }

    /** Decodes a PKCS#7 certs-only response into {@code pem}; returns openssl's text of it. */
    private String certificates(String responseFile, String pem) throws Exception {
        openssl.run("base64", "-d", "-in", responseFile, "-out", responseFile + ".der");
        openssl.run("pkcs7", "-inform", "DER", "-in", responseFile + ".der", "-print_certs", "-out", pem);
        return openssl.run("x509", "-in", pem, "-noout", "-subject", "-issuer", "-serial", "-nameopt", "compat");
    }

    private void awaitEvent(String type, String reason) {
        await().atMost(Duration.ofSeconds(10)).until(() -> server.count("SELECT COUNT(*) FROM security_events WHERE type = '" + type
                + "' AND reason = '" + reason + "'") > 0);
    }

    @Test
    void cacerts_returns_the_platform_ca_as_pkcs7() throws Exception {
        assertThat(curl("cacerts", null, "cacerts.b64")).isEqualTo(200);
        String text = certificates("cacerts.b64", "cacerts.pem");
        assertThat(text).contains("Bulwark");
        assertThat(openssl.read("cacerts.pem").replaceAll("subject=.*\\n|issuer=.*\\n|\\s", ""))
                .isEqualTo(Files.readString(kit.ca()).replaceAll("\\s", ""));
    }

    @Test
    void a_one_time_token_enrolls_a_device_that_then_connects_and_renews_with_its_certificate() throws Exception {
        server.createDevice(admin, "thermo-1", "thermo");
        String token = enrollmentToken("thermo-1");
        Path csr = csr("thermo-1", "/CN=thermo-1");
        assertThat(curl("simpleenroll", csr, "enroll.b64", "-H", "Authorization: Bearer " + token)).isEqualTo(200);
        String text = certificates("enroll.b64", "thermo-1.pem");
        assertThat(text).contains("CN=thermo-1").contains("O=acme");
        var first = new MqttKit.Device("thermo-1", openssl.file("thermo-1.pem"), openssl.file("thermo-1.key"), "");
        assertThat(kit.pub(first, "-i", "thermo-1", "-q", "1", "-t", "devices/thermo-1/telemetry", "-m", "{}").output()).contains("PUBACK");

        // the token is one-time: a second use (a copied token) is refused and recorded
        Path again = csr("clone", "/CN=thermo-1");
        assertThat(curl("simpleenroll", again, "again.b64", "-H", "Authorization: Bearer " + token)).isEqualTo(401);
        awaitEvent("est-authentication-failed", "enrollment-token-used");

        // renewal with a new key, authorized by the current certificate over mutual TLS
        Path renew = csr("thermo-1b", "/CN=thermo-1");
        assertThat(curl("simplereenroll", renew, "renew.b64", "--cert", first.cert().toString(), "--key", first.key().toString()))
                .isEqualTo(200);
        certificates("renew.b64", "thermo-1b.pem");
        var second = new MqttKit.Device("thermo-1", openssl.file("thermo-1b.pem"), openssl.file("thermo-1b.key"), "");
        assertThat(kit.pub(second, "-i", "thermo-1", "-q", "1", "-t", "devices/thermo-1/telemetry", "-m", "{}").output()).contains("PUBACK");
        assertThat(api.get("/api/v1/devices/thermo-1/certificates", admin).json().get("items")).hasSize(2);
        assertThat(server.count("SELECT COUNT(*) FROM audit_log WHERE action = 'device.certificate.enroll'")).isEqualTo(1);
        assertThat(server.count("SELECT COUNT(*) FROM audit_log WHERE action = 'device.certificate.reenroll'")).isEqualTo(1);
    }

    @Test
    void re_enrollment_with_a_revoked_certificate_or_without_one_is_refused() throws Exception {
        MqttKit.Device d = kit.device("thermo-2");
        api.post("/api/v1/devices/thermo-2/certificates/" + d.serial() + "/revoke", admin, null);
        Path renew = csr("thermo-2b", "/CN=thermo-2");
        assertThat(curl("simplereenroll", renew, "renew.b64", "--cert", d.cert().toString(), "--key", d.key().toString())).isEqualTo(401);
        awaitEvent("est-authentication-failed", "certificate-revoked");
        assertThat(curl("simplereenroll", renew, "none.b64")).isEqualTo(401);
        awaitEvent("est-authentication-failed", "no-client-certificate");
        assertThat(api.get("/api/v1/devices/thermo-2/certificates", admin).json().get("items")).hasSize(1);
    }

    @Test
    void an_expired_unknown_or_altered_token_is_refused_and_nothing_is_issued() throws Exception {
        server.createDevice(admin, "thermo-3", "thermo");
        String token = enrollmentToken("thermo-3");
        Path csr = csr("thermo-3", "/CN=thermo-3");
        String altered = token.substring(0, token.length() - 3) + (token.endsWith("AAA") ? "BBB" : "AAA");
        assertThat(curl("simpleenroll", csr, "a.b64", "-H", "Authorization: Bearer " + altered)).isEqualTo(401);
        awaitEvent("est-authentication-failed", "enrollment-token-wrong-secret");
        assertThat(curl("simpleenroll", csr, "b.b64", "-H", "Authorization: Bearer bwe.0123456789abcdef." + "A".repeat(43))).isEqualTo(401);
        awaitEvent("est-authentication-failed", "enrollment-token-unknown");
        assertThat(curl("simpleenroll", csr, "c.b64")).isEqualTo(401);
        awaitEvent("est-authentication-failed", "no-credentials");
        server.clock().advance(Duration.ofMinutes(61));
        assertThat(curl("simpleenroll", csr, "d.b64", "-H", "Authorization: Bearer " + token)).isEqualTo(401);
        awaitEvent("est-authentication-failed", "enrollment-token-expired");
        assertThat(openssl.read("d.b64")).contains("enrollment-token-expired").doesNotContain(token);
        assertThat(server.count("SELECT COUNT(*) FROM device_certificates")).isZero();
    }

    @Test
    void a_csr_for_another_device_a_weak_key_or_a_wrong_media_type_is_refused_and_the_token_stays_unused() throws Exception {
        server.createDevice(admin, "thermo-4", "thermo");
        server.createDevice(admin, "thermo-5", "thermo");
        String token = enrollmentToken("thermo-4");
        Path other = csr("other", "/CN=thermo-5");
        assertThat(curl("simpleenroll", other, "a.b64", "-H", "Authorization: Bearer " + token)).isEqualTo(400);
        assertThat(openssl.read("a.b64")).contains("CN does not match the device id");
        openssl.run("req", "-new", "-newkey", "rsa:1024", "-nodes", "-keyout", "weak.key", "-subj", "/CN=thermo-4", "-out", "weak.csr");
        assertThat(curl("simpleenroll", base64Csr("weak"), "b.b64", "-H", "Authorization: Bearer " + token)).isEqualTo(400);
        awaitEvent("est-request-refused", "csr has an RSA key of 1024 bits; at least 2048 are required");
        Path good = csr("thermo-4", "/CN=thermo-4");
        assertThat(curl("simpleenroll", null, "c.b64", "-H", "Authorization: Bearer " + token, "-H", "Content-Type: application/json",
                "--data-binary", "@" + good)).isEqualTo(415);
        // none of these consumed the token
        assertThat(curl("simpleenroll", good, "d.b64", "-H", "Authorization: Bearer " + token)).isEqualTo(200);
    }

    @Test
    void an_enrollment_token_is_created_only_for_an_active_device_of_the_caller_s_tenant() {
        server.createDevice(admin, "thermo-6", "thermo");
        api.post("/api/v1/devices/thermo-6/disable", admin, null);
        assertThat(api.post("/api/v1/devices/thermo-6/enrollment-tokens", admin, null).status()).isEqualTo(409);
        String other = server.tenantWithOperator("globex", "root", "tenant-admin");
        server.createDevice(admin, "thermo-7", "thermo");
        assertThat(api.post("/api/v1/devices/thermo-7/enrollment-tokens", other, null).status()).isEqualTo(404);
        ApiClient.Result r = api.post("/api/v1/devices/thermo-7/enrollment-tokens?ttlMinutes=100000", admin, null);
        assertThat(r.status()).isEqualTo(422);
        assertThat(r.body()).contains("ttlMinutes");
    }

    @Test
    void a_factory_certificate_from_a_registered_ca_enrolls_over_mutual_tls() throws Exception {
        openssl.run("req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes", "-keyout", "factory.key",
                "-subj", "/O=Acme/CN=factory CA", "-days", "3650", "-out", "factory.pem",
                "-addext", "basicConstraints=critical,CA:TRUE", "-addext", "keyUsage=critical,keyCertSign,cRLSign");
        String challenge = api.post("/api/v1/cas/challenges", admin, null).json().get("challenge").asText();
        openssl.p256Csr("pop", "/CN=" + challenge);
        openssl.run("x509", "-req", "-in", "pop.csr", "-CA", "factory.pem", "-CAkey", "factory.key", "-days", "1", "-out", "pop.pem");
        assertThat(api.post("/api/v1/cas", admin, Map.of("certificate", openssl.read("factory.pem"),
                "verificationCertificate", openssl.read("pop.pem"))).status()).isEqualTo(201);

        server.createDevice(admin, "sensor-9", "sensor");
        openssl.p256Csr("factory-9", "/CN=sensor-9");
        openssl.run("x509", "-req", "-in", "factory-9.csr", "-CA", "factory.pem", "-CAkey", "factory.key", "-days", "30", "-out", "factory-9.pem");
        Path csr = csr("sensor-9", "/CN=sensor-9");
        assertThat(curl("simpleenroll", csr, "e.b64", "--cert", openssl.file("factory-9.pem").toString(),
                "--key", openssl.file("factory-9.key").toString())).isEqualTo(200);
        assertThat(certificates("e.b64", "sensor-9.pem")).contains("CN=sensor-9");

        // a factory certificate for a device that is not registered, or from an unregistered CA: refused
        openssl.p256Csr("factory-10", "/CN=sensor-10");
        openssl.run("x509", "-req", "-in", "factory-10.csr", "-CA", "factory.pem", "-CAkey", "factory.key", "-days", "30", "-out", "factory-10.pem");
        assertThat(curl("simpleenroll", csr("sensor-10", "/CN=sensor-10"), "f.b64", "--cert", openssl.file("factory-10.pem").toString(),
                "--key", openssl.file("factory-10.key").toString())).isEqualTo(401);
        awaitEvent("est-authentication-failed", "factory-certificate-untrusted");
    }
}
