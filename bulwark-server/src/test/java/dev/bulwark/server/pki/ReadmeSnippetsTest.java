package dev.bulwark.server.pki;

import static org.assertj.core.api.Assertions.assertThat;

import dev.bulwark.server.cli.ApiClient;
import dev.bulwark.server.testkit.Backend;
import dev.bulwark.server.testkit.Readme;
import dev.bulwark.server.testkit.MqttKit;
import dev.bulwark.server.testkit.TestServer;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Map;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * The shell snippets the README tells a user to paste, run as printed in a shell against a real node; only
 * the port differs (the test node listens on an ephemeral one) and the variables the text says to set.
 */
class ReadmeSnippetsTest {

    static String block(String marker) {
        return Readme.block("sh", marker);
    }

    static MqttKit.Run bash(Path dir, String script, Map<String, String> env) throws Exception {
        ProcessBuilder pb = new ProcessBuilder("bash", "-euo", "pipefail", "-c", script).directory(dir.toFile()).redirectErrorStream(true);
        pb.environment().putAll(env);
        Process p = pb.start();
        String out = new String(p.getInputStream().readAllBytes());
        p.waitFor();
        return new MqttKit.Run(p.exitValue(), out);
    }

    @Test
    void the_est_enrollment_snippet_works_as_printed_and_a_device_that_lost_the_answer_may_ask_again(@TempDir Path dir) throws Exception {
        try (TestServer server = TestServer.start(Backend.H2)) {
            String admin = server.tenantWithOperator("acme", "root", "tenant-admin");
            ApiClient api = server.api();
            assertThat(api.post("/api/v1/devices", admin, Map.of("id", "thermo-0002", "model", "thermo")).status()).isEqualTo(201);
            String token = api.post("/api/v1/devices/thermo-0002/enrollment-tokens", admin, null).json().get("token").asText();
            Files.copy(server.dataDir().resolve("pki/ca.pem"), dir.resolve("ca.pem"));
            String snippet = block("simpleenroll").replace("localhost:8444", "localhost:" + server.node().deviceHttpsPort());

            MqttKit.Run run = bash(dir, snippet, Map.of("ENROLLMENT_TOKEN", token));
            assertThat(run.exit()).as(run.output()).isZero();
            String subject = MqttKit.run(List.of("openssl", "x509", "-in", dir.resolve("dev.pem").toString(), "-noout", "-subject"), 30).output();
            assertThat(subject).contains("thermo-0002");

            // the answer was lost: the same token with a CSR of the same key gets the same certificate again
            String again = snippet.lines().filter(l -> !l.startsWith("openssl req")).reduce("", (a, b) -> a + b + "\n")
                    .replace("-out dev.pem", "-out again.pem");
            String csrOfSameKey = "openssl req -new -key dev.key -subj /CN=thermo-0002 -outform DER | base64 > dev.b64\n";
            MqttKit.Run retry = bash(dir, csrOfSameKey + again, Map.of("ENROLLMENT_TOKEN", token));
            assertThat(retry.exit()).as(retry.output()).isZero();
            assertThat(Files.readString(dir.resolve("again.pem"))).isEqualTo(Files.readString(dir.resolve("dev.pem")));
            assertThat(server.count("SELECT COUNT(*) FROM device_certificates WHERE device_id = 'thermo-0002'")).isEqualTo(1);
            assertThat(server.count("SELECT COUNT(*) FROM audit_log WHERE action = 'device.certificate.enroll-again'")).isEqualTo(1);

            // a used token with another key is refused and recorded
            MqttKit.Run other = bash(dir, snippet, Map.of("ENROLLMENT_TOKEN", token));
            assertThat(other.exit()).isNotZero();
            org.awaitility.Awaitility.await().until(() -> server.count(
                    "SELECT COUNT(*) FROM security_events WHERE reason = 'enrollment-token-used'") == 1);
            assertThat(server.count("SELECT COUNT(*) FROM device_certificates WHERE device_id = 'thermo-0002'")).isEqualTo(1);
        }
    }

    @Test
    void the_first_api_call_of_the_readme_works_as_printed(@TempDir Path dir) throws Exception {
        try (TestServer server = TestServer.start(Backend.H2)) {
            server.tenantWithOperator("acme", "root", "tenant-admin");
            Files.createSymbolicLink(dir.resolve("bulwark-data"), server.dataDir());
            Matcher m = Pattern.compile("`(curl --cacert bulwark-data/pki/ca.pem [^`]*)`").matcher(Readme.text());
            assertThat(m.find()).as("the README's first API call").isTrue();
            String command = m.group(1).replace("localhost:8443", "localhost:" + server.node().httpsPort());
            MqttKit.Run run = bash(dir, command, Map.of());
            assertThat(run.exit()).as(run.output()).isZero();
            assertThat(run.output()).contains("\"acme\"");
        }
    }
}
