package dev.bulwark.server.node;

import static org.assertj.core.api.Assertions.assertThat;

import com.fasterxml.jackson.databind.ObjectMapper;
import dev.bulwark.server.cli.ApiClient;
import dev.bulwark.server.testkit.Backend;
import dev.bulwark.server.testkit.NodePerTest;
import dev.bulwark.server.testkit.Openssl;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.attribute.PosixFilePermissions;
import java.util.stream.Stream;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedClass;
import org.junit.jupiter.params.provider.EnumSource;

@ParameterizedClass
@EnumSource(Backend.class)
class ServeOnEmbeddedDefaultsTest extends NodePerTest {

    @Test
    void first_start_creates_a_p256_platform_ca_a_server_certificate_and_an_owner_only_bootstrap_token() throws Exception {
        Path data = server.dataDir();
        Openssl openssl = new Openssl(data.resolve("pki"));
        String ca = openssl.run("x509", "-in", "ca.pem", "-noout", "-text");
        assertThat(ca).contains("ASN1 OID: prime256v1").contains("CA:TRUE").contains("Certificate Sign");
        String serverCert = openssl.run("x509", "-in", "server.pem", "-noout", "-text");
        assertThat(serverCert).contains("DNS:localhost").contains("TLS Web Server Authentication");
        assertThat(openssl.run("verify", "-CAfile", "ca.pem", "server.pem")).contains("OK");

        Path token = data.resolve("bootstrap/admin.token");
        assertThat(PosixFilePermissions.toString(Files.getPosixFilePermissions(token))).isEqualTo("rw-------");
        assertThat(PosixFilePermissions.toString(Files.getPosixFilePermissions(data.resolve("pki/ca.key")))).isEqualTo("rw-------");
        assertThat(PosixFilePermissions.toString(Files.getPosixFilePermissions(data))).isEqualTo("rwx------");
        assertThat(server.api().get("/api/v1/tenants", server.adminToken()).status()).isEqualTo(200);

        var ports = new ObjectMapper().readTree(data.resolve("run/ports.json").toFile());
        assertThat(ports.get("https").asInt()).isEqualTo(server.node().httpsPort());
    }

    @Test
    void a_restart_reuses_the_ca_the_server_certificate_and_the_bootstrap_token() throws Exception {
        Path data = server.dataDir();
        String ca = Files.readString(data.resolve("pki/ca.pem"));
        String serverCert = Files.readString(data.resolve("pki/server.pem"));
        String token = server.adminToken();

        server.restart();

        assertThat(Files.readString(data.resolve("pki/ca.pem"))).isEqualTo(ca);
        assertThat(Files.readString(data.resolve("pki/server.pem"))).isEqualTo(serverCert);
        assertThat(server.adminToken()).isEqualTo(token);
        assertThat(server.api().get("/api/v1/tenants", token).status()).isEqualTo(200);
        long bootstraps = server.sql(h -> h.createQuery("SELECT COUNT(*) FROM audit_log WHERE action = 'platform.bootstrap'")
                .mapTo(Long.class).one());
        assertThat(bootstraps).isEqualTo(1);
    }

    @Test
    void the_bootstrap_token_is_stored_only_as_a_digest_and_written_nowhere_else() throws Exception {
        String token = server.adminToken();
        String secret = token.substring(token.lastIndexOf('.') + 1);
        long plaintextRows = server.sql(h -> h.createQuery("SELECT COUNT(*) FROM api_tokens WHERE secret_sha256 = :s")
                .bind("s", secret).mapTo(Long.class).one());
        assertThat(plaintextRows).isZero();
        server.stop();
        try (Stream<Path> files = Files.walk(server.dataDir())) {
            for (Path f : files.filter(Files::isRegularFile).toList()) {
                if (f.endsWith("admin.token")) {
                    continue;
                }
                byte[] content = Files.readAllBytes(f);
                assertThat(new String(content, java.nio.charset.StandardCharsets.ISO_8859_1)).as(f.toString()).doesNotContain(secret);
            }
        }
        server.restart();
    }

    @Test
    void the_api_speaks_tls_only_and_refuses_plain_http() {
        ApiClient.Result ok = server.api().get("/api/v1/tenants", server.adminToken());
        assertThat(ok.headers().firstValue("strict-transport-security")).isPresent();
        Openssl openssl = Openssl.inTempDir();
        String out;
        try {
            out = openssl.run("s_client", "-connect", "127.0.0.1:" + server.node().httpsPort(), "-tls1_1");
        } catch (IllegalStateException e) {
            out = e.getMessage();
        }
        assertThat(out).containsAnyOf("alert protocol version", "no protocols available", "unsupported protocol");
    }
}
