package dev.bulwark.server.crypto;

import static org.assertj.core.api.Assertions.assertThat;
import static org.awaitility.Awaitility.await;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import dev.bulwark.server.cli.ApiClient;
import dev.bulwark.server.config.DataDir;
import dev.bulwark.server.testkit.Openssl;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.attribute.PosixFilePermissions;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Base64;
import java.util.List;
import java.util.Map;
import java.util.concurrent.TimeUnit;
import java.util.stream.Stream;
import org.junit.jupiter.api.Assertions;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * The key-encryption key in an HSM: a SoftHSM2 token initialised in this test's temporary directory, used by a node
 * started as {@code bulwark serve --kek pkcs11:CONFIG} with the PIN from a file or the environment. SoftHSM reads
 * {@code SOFTHSM2_CONF} from the process environment when the library loads, and a JVM cannot set its own
 * environment, so the node runs in a child JVM whose environment names this test's SoftHSM configuration; a restart
 * is then a real new process.
 */
class Pkcs11KekTest {
    private static final String LIBRARY = "/usr/lib/softhsm/libsofthsm2.so";
    private static final String PIN = "4711-bulwark";

    @TempDir
    Path dir;
    Path hsm;
    Path softhsmConf;
    Path providerConf;
    Path pinFile;

    @BeforeEach
    void token() throws Exception {
        if (!Files.exists(Path.of(LIBRARY)) || !onPath("softhsm2-util")) {
            // never skipped: the HSM path is what keeps keys out of a backup (.ci/run installs the package)
            Assertions.fail("SoftHSM2 is not installed (apt-get install -y softhsm2): the HSM test needs it");
        }
        hsm = Files.createDirectories(dir.resolve("hsm"));
        Files.createDirectories(hsm.resolve("tokens"));
        softhsmConf = hsm.resolve("softhsm2.conf");
        Files.writeString(softhsmConf, "directories.tokendir = " + hsm.resolve("tokens") + "\nobjectstore.backend = file\nlog.level = ERROR\n");
        run(List.of("softhsm2-util", "--init-token", "--free", "--label", "bulwark", "--pin", PIN, "--so-pin", "so-" + PIN));
        providerConf = hsm.resolve("pkcs11.cfg");
        Files.writeString(providerConf, "name = bulwark\nlibrary = " + LIBRARY + "\nslotListIndex = 0\n");
        pinFile = hsm.resolve("pin");
        Files.createFile(pinFile, PosixFilePermissions.asFileAttribute(PosixFilePermissions.fromString("rw-------")));
        Files.writeString(pinFile, PIN + "\n");
    }

    @Test
    void data_sealed_under_a_kek_on_the_token_reads_after_a_restart_and_the_data_directory_holds_no_kek() throws Exception {
        Path data = dir.resolve("data");
        Process node = start(data, Map.of(), "--kek", "pkcs11:" + providerConf, "--kek-pin-file", pinFile.toString());
        String admin;
        String ops;
        String owner;
        try {
            JsonNode ports = ports(data, node);
            ApiClient api = new ApiClient("localhost", ports.get("https").asInt(), data.resolve("pki/ca.pem"));
            admin = DataDir.read(data.resolve("bootstrap/admin.token")).trim();
            api.post("/api/v1/tenants", admin, Map.of("id", "acme", "name", "Acme"));
            ops = api.post("/api/v1/tenants/acme/operators", admin, Map.of("name", "ops", "roles", List.of("tenant-admin", "fleet-operator")))
                    .json().get("token").asText();
            owner = api.post("/api/v1/owners", ops, Map.of("name", "Ada Lovelace", "email", "ada@example.com")).json().get("id").asText();
            api.post("/api/v1/devices", ops, Map.of("id", "meter-1", "model", "meter"));
            Openssl openssl = new Openssl(Files.createDirectories(dir.resolve("device")));
            String csr = openssl.p256Csr("meter-1", "/CN=meter-1");
            Files.writeString(openssl.file("meter-1.pem"),
                    api.post("/api/v1/devices/meter-1/certificates", ops, Map.of("csr", csr)).json().get("certificate").asText());
            String pub = run(List.of("mosquitto_pub", "-h", "localhost", "-p", ports.get("mqtt").asText(), "--cafile",
                    data.resolve("pki/ca.pem").toString(), "--cert", openssl.file("meter-1.pem").toString(), "--key",
                    openssl.file("meter-1.key").toString(), "-i", "meter-1", "-q", "1", "-d", "-t", "devices/meter-1/telemetry",
                    "-m", "{\"kwh\":42.5}"));
            assertThat(pub).contains("PUBACK");
        } finally {
            stop(node);
        }

        // nothing in the data directory is the key-encryption key: no keys/kek, and every data key is wrapped by the token
        assertThat(data.resolve("keys/kek")).doesNotExist();
        List<Path> dataKeys = files(data.resolve("keys/data"));
        assertThat(dataKeys).isNotEmpty().allSatisfy(k -> assertThat(Files.readAllBytes(k)[0]).as("wrapped by the token")
                .isEqualTo(Pkcs11Kek.VERSION));
        assertThat(files(data)).noneMatch(f -> f.startsWith(hsm));

        // a real restart (a new process), the PIN now from the environment
        node = start(data, Map.of("BULWARK_KEK_PIN", PIN), "--kek", "pkcs11:" + providerConf);
        try {
            JsonNode ports = ports(data, node);
            ApiClient api = new ApiClient("localhost", ports.get("https").asInt(), data.resolve("pki/ca.pem"));
            assertThat(api.get("/api/v1/owners/" + owner, ops).json().path("profile").path("name").asText()).isEqualTo("Ada Lovelace");
            JsonNode items = api.get("/api/v1/devices/meter-1/telemetry", ops).json().get("items");
            assertThat(items).hasSize(1);
            assertThat(new String(Base64.getDecoder().decode(items.get(0).get("payloadBase64").asText()), StandardCharsets.UTF_8))
                    .isEqualTo("{\"kwh\":42.5}");
        } finally {
            stop(node);
        }
    }

    @Test
    void a_copy_of_the_data_directory_without_the_token_opens_nothing_and_a_wrong_pin_is_refused() throws Exception {
        Path data = dir.resolve("data");
        Process node = start(data, Map.of(), "--kek", "pkcs11:" + providerConf, "--kek-pin-file", pinFile.toString());
        try {
            JsonNode ports = ports(data, node);
            ApiClient api = new ApiClient("localhost", ports.get("https").asInt(), data.resolve("pki/ca.pem"));
            String admin = DataDir.read(data.resolve("bootstrap/admin.token")).trim();
            api.post("/api/v1/tenants", admin, Map.of("id", "acme", "name", "Acme"));
            String ops = api.post("/api/v1/tenants/acme/operators", admin, Map.of("name", "ops", "roles", List.of("tenant-admin")))
                    .json().get("token").asText();
            api.post("/api/v1/owners", ops, Map.of("name", "Ada Lovelace"));
        } finally {
            stop(node);
        }
        // the backup, started as a thief would (no token, the defaults): refused, no new key over the old ones
        Process thief = start(data, Map.of());
        assertThat(thief.waitFor(60, TimeUnit.SECONDS)).isTrue();
        assertThat(thief.exitValue()).isNotZero();
        assertThat(Files.readString(data.resolve("server.log"))).contains("no key-encryption key").contains("same --kek");
        assertThat(data.resolve("keys/kek")).doesNotExist();

        Path wrongPin = hsm.resolve("wrong-pin");
        Files.createFile(wrongPin, PosixFilePermissions.asFileAttribute(PosixFilePermissions.fromString("rw-------")));
        Files.writeString(wrongPin, "0000");
        Process wrong = start(data, Map.of(), "--kek", "pkcs11:" + providerConf, "--kek-pin-file", wrongPin.toString());
        assertThat(wrong.waitFor(60, TimeUnit.SECONDS)).isTrue();
        assertThat(wrong.exitValue()).isNotZero();
        assertThat(Files.readString(data.resolve("server.log"))).contains("cannot log in to the PKCS#11 token").doesNotContain("0000");

        Process noPin = start(data, Map.of(), "--kek", "pkcs11:" + providerConf);
        assertThat(noPin.waitFor(60, TimeUnit.SECONDS)).isTrue();
        assertThat(Files.readString(data.resolve("server.log"))).contains("set the environment variable BULWARK_KEK_PIN");
    }

    private Process start(Path data, Map<String, String> env, String... kek) throws IOException {
        Files.createDirectories(data);
        Files.deleteIfExists(data.resolve("run/ports.json"));
        List<String> cmd = new ArrayList<>(List.of(ProcessHandle.current().info().command().orElse("java"), "-Xmx256m",
                "-cp", System.getProperty("java.class.path"), "dev.bulwark.server.cli.BulwarkCli", "serve",
                "--data", data.toString(), "--https-port", "0", "--mqtt-port", "0", "--device-https-port", "0", "--bind", "127.0.0.1"));
        cmd.addAll(List.of(kek));
        ProcessBuilder pb = new ProcessBuilder(cmd).redirectErrorStream(true).redirectOutput(data.resolve("server.log").toFile());
        pb.environment().remove("BULWARK_KEK_PIN");
        pb.environment().put("SOFTHSM2_CONF", softhsmConf.toString());
        pb.environment().putAll(env);
        return pb.start();
    }

    private static void stop(Process node) throws InterruptedException {
        node.destroy(); // SIGTERM: the node closes cleanly
        if (!node.waitFor(60, TimeUnit.SECONDS)) {
            node.destroyForcibly().waitFor();
        }
    }

    private static JsonNode ports(Path data, Process node) throws IOException {
        Path file = data.resolve("run/ports.json");
        await().atMost(Duration.ofSeconds(90)).until(() -> {
            if (!node.isAlive()) {
                throw new IllegalStateException("the node exited: " + Files.readString(data.resolve("server.log")));
            }
            return Files.exists(file) && new ObjectMapper().readTree(file.toFile()).path("pid").asLong() == node.pid();
        });
        return new ObjectMapper().readTree(file.toFile());
    }

    private String run(List<String> cmd) throws Exception {
        ProcessBuilder pb = new ProcessBuilder(cmd).redirectErrorStream(true);
        pb.environment().put("SOFTHSM2_CONF", softhsmConf.toString());
        Process p = pb.start();
        p.getOutputStream().close();
        String out = new String(p.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
        if (!p.waitFor(60, TimeUnit.SECONDS) || p.exitValue() != 0) {
            throw new IllegalStateException(String.join(" ", cmd.subList(0, 2)) + " failed: " + out);
        }
        return out;
    }

    private static boolean onPath(String tool) {
        return Stream.of(System.getenv("PATH").split(":")).anyMatch(d -> Files.isExecutable(Path.of(d, tool)));
    }

    private static List<Path> files(Path root) throws IOException {
        try (Stream<Path> s = Files.walk(root)) {
            return s.filter(Files::isRegularFile).toList();
        }
    }
}
