package dev.bulwark.server.firmware;

import static org.assertj.core.api.Assertions.assertThat;
import static org.awaitility.Awaitility.await;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import dev.bulwark.device.BulwarkDevice;
import dev.bulwark.device.FirmwareUpdater;
import dev.bulwark.protocol.DeviceId;
import dev.bulwark.protocol.firmware.Envelope;
import dev.bulwark.protocol.firmware.FirmwareMetadata;
import dev.bulwark.protocol.firmware.ReleaseKeys;
import dev.bulwark.server.cli.ApiClient;
import dev.bulwark.server.cli.BulwarkCli;
import dev.bulwark.server.testkit.Backend;
import dev.bulwark.server.testkit.MqttKit;
import dev.bulwark.server.testkit.NodePerTest;
import java.net.URI;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.attribute.PosixFilePermissions;
import java.security.KeyPair;
import java.time.Clock;
import java.time.Duration;
import java.time.Instant;
import java.util.ArrayList;
import java.util.Base64;
import java.util.List;
import java.util.Map;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.ThreadLocalRandom;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedClass;
import org.junit.jupiter.params.provider.EnumSource;

/**
 * Firmware end to end: keys, roots and releases made by the publisher's CLI, uploaded over REST, rolled out
 * over MQTT, fetched by the device SDK over mutual TLS; and every attack of the threat table, each ending
 * with the device refusing.
 */
@ParameterizedClass
@EnumSource(value = Backend.class, names = "H2")
class FirmwareTest extends NodePerTest {
    static final ObjectMapper JSON = new ObjectMapper();
    String admin;
    String publisher;
    Path keys;
    Path home;
    byte[] image;
    String timestampKey;
    final List<byte[]> installed = new CopyOnWriteArrayList<>();
    final List<BulwarkDevice> devices = new ArrayList<>();

    @BeforeEach
    void publisherWithARootAndTwoOfThreeKeys() throws Exception {
        admin = server.tenantWithOperator("acme", "root", "tenant-admin");
        publisher = server.operator("acme", "pat", "firmware-publisher");
        keys = Files.createTempDirectory("bulwark-release-keys-");
        home = Files.createTempDirectory("bulwark-fw-devices-");
        for (String k : List.of("alice", "bob", "carol")) {
            cli("firmware", "keygen", "--out", keys.toString(), "--name", k);
        }
        timestampKey = api.get("/api/v1/firmware/timestamp-key", publisher).json().get("public").asText();
        cli("firmware", "root", "--tenant", "acme", "--release-key", pub("alice"), "--release-key", pub("bob"), "--release-key", pub("carol"),
                "--threshold", "2", "--timestamp-key", timestampKey, "--out", keys.resolve("root.json").toString());
        cli("firmware", "cosign", "--key", key("alice"), keys.resolve("root.json").toString());
        cli("firmware", "cosign", "--key", key("bob"), keys.resolve("root.json").toString());
        ApiClient.Result root = api.send("PUT", "/api/v1/firmware/root", admin, "application/json", Files.readAllBytes(keys.resolve("root.json")));
        assertThat(root.status()).as(root.body()).isEqualTo(200);
        image = new byte[600 * 1024 + 17]; // more than two download ranges
        ThreadLocalRandom.current().nextBytes(image);
        Files.write(keys.resolve("fw.bin"), image);
    }

    @AfterEach
    void stopDevices() {
        devices.forEach(BulwarkDevice::close);
    }

    private static void cli(String... args) {
        assertThat(BulwarkCli.run(args)).as(String.join(" ", args)).isZero();
    }

    private String key(String name) {
        return keys.resolve(name + ".key").toString();
    }

    private String pub(String name) {
        return keys.resolve(name + ".pub").toString();
    }

    /** Targets for {@code model} signed by {@code signers}, written to {@code file}. */
    private Path targets(String file, String model, long versionNumber, String... signers) {
        Path out = keys.resolve(file);
        cli("firmware", "sign", "--key", key(signers[0]), "--tenant", "acme", "--model", model, "--hardware", "rev-a", "--hardware", "rev-b",
                "--version", "1." + versionNumber + ".0", "--version-number", String.valueOf(versionNumber), "--image",
                keys.resolve("fw.bin").toString(), "--out", out.toString());
        for (int i = 1; i < signers.length; i++) {
            cli("firmware", "cosign", "--key", key(signers[i]), out.toString());
        }
        return out;
    }

    private ApiClient.Result upload(Path targets, byte[] img, String token) throws Exception {
        return api.post("/api/v1/firmware", token, Map.of("targets", JSON.readTree(Files.readAllBytes(targets)),
                "image", Base64.getEncoder().encodeToString(img)));
    }

    private String release(String model, long versionNumber) throws Exception {
        ApiClient.Result r = upload(targets("t-" + model + versionNumber + ".json", model, versionNumber, "alice", "carol"), image, publisher);
        assertThat(r.status()).as(r.body()).isEqualTo(201);
        return r.json().get("id").asText();
    }

    private BulwarkDevice device(String id, String model, Clock clock) throws Exception {
        server.createDevice(admin, id, model);
        String enrollment = api.post("/api/v1/devices/" + id + "/enrollment-tokens", admin, null).json().get("token").asText();
        Path state = home.resolve(id);
        BulwarkDevice d = BulwarkDevice.builder(DeviceId.of(id)).stateDir(state).trustAnchor(server.dataDir().resolve("pki/ca.pem"))
                .est(URI.create("https://localhost:" + server.node().deviceHttpsPort()))
                .mqtt(URI.create("ssl://localhost:" + server.node().mqttPort())).enrollmentToken(enrollment)
                .firmware(new FirmwareUpdater.Settings(model, "rev-a", keys.resolve("root.json"), state, clock), (img, t) -> installed.add(img))
                .build().start();
        devices.add(d);
        assertThat(d.awaitConnected(Duration.ofSeconds(30))).isTrue();
        return d;
    }

    private JsonNode rollout(String release) {
        ApiClient.Result r = api.post("/api/v1/rollouts", publisher, Map.of("release", release, "stages", List.of(100)));
        assertThat(r.status()).as(r.body()).isEqualTo(201);
        return r.json();
    }

    private FirmwareUpdater.Outcome awaitOutcome(BulwarkDevice d) {
        await().atMost(Duration.ofSeconds(30)).until(() -> d.lastFirmware() != null);
        return d.lastFirmware();
    }

    private String report(String rollout, String device) {
        return api.get("/api/v1/rollouts/" + rollout, publisher).json().path("reports").path(device).path("state").asText();
    }

    @Test
    void a_release_signed_by_two_of_three_keys_is_rolled_out_verified_and_installed() throws Exception {
        BulwarkDevice d = device("thermo-1", "thermo", null);
        String rel = release("thermo", 11);
        String ro = rollout(rel).get("id").asText();
        FirmwareUpdater.Outcome o = awaitOutcome(d);
        assertThat(o.installed()).as(o.reason()).isTrue();
        assertThat(installed.get(0)).isEqualTo(image);
        assertThat(d.firmware().installedVersionNumber()).isEqualTo(11);
        await().atMost(Duration.ofSeconds(10)).until(() -> report(ro, "thermo-1").equals("installed"));
        assertThat(PosixFilePermissions.toString(Files.getPosixFilePermissions(keys.resolve("alice.key")))).isEqualTo("rw-------");
        // the image is stored encrypted: the stored bytes are not the image and contain no piece of it
        // (in chunks, each sealed on its own, so that downloads decrypt range by range)
        List<byte[]> chunks = server.sql(h -> h.createQuery("SELECT sealed FROM firmware_image_chunks WHERE release_id = :id ORDER BY idx")
                .bind("id", rel).mapTo(byte[].class).list());
        assertThat(chunks).hasSize((image.length + 65535) / 65536);
        for (byte[] stored : chunks) {
            assertThat(new String(stored, StandardCharsets.ISO_8859_1)).doesNotContain(new String(image, 1000, 32, StandardCharsets.ISO_8859_1))
                    .doesNotContain(new String(image, 5 * 65536 + 7, 32, StandardCharsets.ISO_8859_1));
        }
        assertThat(server.count("SELECT COUNT(*) FROM audit_log WHERE action IN ('firmware.root.set', 'firmware.upload', 'rollout.create')"))
                .isEqualTo(3);
    }

    @Test
    void the_server_refuses_a_release_below_the_threshold_a_wrong_image_a_lower_version_and_a_non_publisher() throws Exception {
        ApiClient.Result single = upload(targets("single.json", "thermo", 11, "alice"), image, publisher);
        assertThat(single.status()).isEqualTo(422);
        assertThat(single.body()).contains("threshold-not-met");
        ApiClient.Result other = upload(targets("ok.json", "thermo", 11, "alice", "bob"), new byte[] {1, 2, 3}, publisher);
        assertThat(other.body()).contains("length-mismatch");
        assertThat(upload(targets("ok.json", "thermo", 11, "alice", "bob"), image, admin).status()).isEqualTo(403);
        assertThat(upload(targets("ok.json", "thermo", 11, "alice", "bob"), image, publisher).status()).isEqualTo(201);
        assertThat(upload(targets("old.json", "thermo", 10, "alice", "bob"), image, publisher).status()).isEqualTo(409);
        assertThat(server.count("SELECT COUNT(*) FROM firmware_releases")).isEqualTo(1);
    }

    @Test
    void image_bytes_altered_in_storage_are_never_installed() throws Exception {
        BulwarkDevice d = device("thermo-2", "thermo", null);
        String rel = release("thermo", 11);
        server.sql(h -> {
            byte[] stored = h.createQuery("SELECT sealed FROM firmware_image_chunks WHERE release_id = :id AND idx = 5").bind("id", rel)
                    .mapTo(byte[].class).one();
            stored[stored.length / 2] ^= 1;
            return h.createUpdate("UPDATE firmware_image_chunks SET sealed = :s WHERE release_id = :id AND idx = 5").bind("s", stored)
                    .bind("id", rel).execute();
        });
        String ro = rollout(rel).get("id").asText();
        assertThat(awaitOutcome(d).installed()).isFalse();
        assertThat(installed).isEmpty();
        assertThat(d.firmware().installedVersionNumber()).isZero();
        await().atMost(Duration.ofSeconds(10)).until(() -> report(ro, "thermo-2").equals("failed"));
    }

    @Test
    void metadata_altered_in_storage_is_refused_by_the_device() throws Exception {
        BulwarkDevice d = device("thermo-3", "thermo", null);
        String rel = release("thermo", 11);
        server.sql(h -> h.createUpdate("UPDATE firmware_releases SET targets = REPLACE(targets, '\"rev-b\"', '\"rev-x\"') WHERE id = :id")
                .bind("id", rel).execute());
        rollout(rel);
        FirmwareUpdater.Outcome o = awaitOutcome(d);
        assertThat(o.installed()).isFalse();
        assertThat(o.reason()).isEqualTo("threshold-not-met");
        assertThat(installed).isEmpty();
    }

    @Test
    void a_properly_signed_older_release_is_refused_as_a_rollback() throws Exception {
        BulwarkDevice d = device("thermo-4", "thermo", null);
        Files.writeString(home.resolve("thermo-4").resolve("firmware-counter"), "20\n"); // the device already runs version 20
        rollout(release("thermo", 11));
        FirmwareUpdater.Outcome o = awaitOutcome(d);
        assertThat(o.reason()).isEqualTo("rollback");
        assertThat(installed).isEmpty();
    }

    @Test
    void stale_freshness_is_refused_as_a_freeze() throws Exception {
        // the device's clock is two hours ahead of the timestamp the server signs (fresh for one hour):
        // what a device sees when an attacker replays old metadata to keep it on old firmware
        BulwarkDevice d = device("thermo-5", "thermo", Clock.offset(Clock.systemUTC(), Duration.ofHours(2)));
        rollout(release("thermo", 11));
        assertThat(awaitOutcome(d).reason()).isEqualTo("freeze");
        assertThat(installed).isEmpty();
    }

    @Test
    void metadata_mixed_from_two_releases_is_refused() throws Exception {
        BulwarkDevice d = device("thermo-6", "thermo", null);
        String r11 = release("thermo", 11);
        String r12 = release("thermo", 12);
        // a device gets metadata only for releases a running rollout offered it
        assertThat(status(d, "/device/v1/firmware/" + r11)).isEqualTo(404);
        rollout(r11);
        rollout(r12);
        await().atMost(Duration.ofSeconds(30)).until(() -> d.firmware().installedVersionNumber() == 12);
        JsonNode b11 = fetch(d, "/device/v1/firmware/" + r11);
        JsonNode b12 = fetch(d, "/device/v1/firmware/" + r12);
        ((com.fasterxml.jackson.databind.node.ObjectNode) b11).set("timestamp", b12.get("timestamp"));
        try {
            d.firmware().verify(b11);
            throw new AssertionError("mixed metadata was accepted");
        } catch (dev.bulwark.protocol.firmware.FirmwareRejected e) {
            assertThat(e.reason()).isEqualTo("mixed-metadata");
        }
        try {
            d.firmware().verify(b12); // untouched, but already installed
            throw new AssertionError("a reinstall was accepted");
        } catch (dev.bulwark.protocol.firmware.FirmwareRejected e) {
            assertThat(e.reason()).isEqualTo("rollback");
        }
    }

    @Test
    void an_image_for_another_model_is_refused_and_other_models_and_tenants_cannot_download() throws Exception {
        BulwarkDevice thermo = device("thermo-7", "thermo", null);
        BulwarkDevice valve = device("valve-1", "valve", null);
        String valveRelease = release("valve", 11);
        rollout(valveRelease);
        await().atMost(Duration.ofSeconds(30)).until(() -> valve.firmware().installedVersionNumber() == 11);
        // the valve's own metadata, handed to the thermostat: refused for its model
        JsonNode bundle = fetch(valve, "/device/v1/firmware/" + valveRelease);
        try {
            thermo.firmware().verify(bundle);
            throw new AssertionError("another model's release was accepted");
        } catch (dev.bulwark.protocol.firmware.FirmwareRejected e) {
            assertThat(e.reason()).isEqualTo("model-mismatch");
        }
        // and the server gives another model's release to nobody else: 404, as for anything unknown
        assertThat(status(thermo, "/device/v1/firmware/" + valveRelease)).isEqualTo(404);
        assertThat(status(thermo, "/device/v1/firmware/" + valveRelease + "/image")).isEqualTo(404);
        await().atMost(Duration.ofSeconds(5)).until(() -> server.count("SELECT COUNT(*) FROM security_events WHERE type = "
                + "'firmware-access-refused' AND identity LIKE 'device:acme/thermo-7%'") >= 2);
        String globex = server.tenantWithOperator("globex", "root", "tenant-admin");
        MqttKit other = new MqttKit(server, globex);
        MqttKit.Device g = other.device("valve-1");
        int code = Integer.parseInt(MqttKit.run(List.of("curl", "-s", "-o", "/dev/null", "-w", "%{http_code}", "--cacert", other.ca().toString(),
                "--cert", g.cert().toString(), "--key", g.key().toString(),
                "https://localhost:" + server.node().deviceHttpsPort() + "/device/v1/firmware/" + valveRelease + "/image"), 30).output().trim());
        assertThat(code).isEqualTo(404);
        assertThat(MqttKit.run(List.of("curl", "-s", "-o", "/dev/null", "-w", "%{http_code}", "--cacert", other.ca().toString(),
                "https://localhost:" + server.node().deviceHttpsPort() + "/device/v1/firmware/" + valveRelease), 30).output().trim())
                .isEqualTo("404");
        await().atMost(Duration.ofSeconds(5)).until(() -> server.count(
                "SELECT COUNT(*) FROM security_events WHERE type = 'device-https-authentication-failed' AND reason = 'no-credentials'") > 0);
    }

    @Test
    void an_attacker_who_writes_the_database_cannot_make_a_device_install_a_release() throws Exception {
        BulwarkDevice d = device("thermo-8", "thermo", null);
        // the attacker replaces the tenant's root with one of its own keys, then publishes through the
        // server, which now believes that root: the device does not
        KeyPair evil = ReleaseKeys.generate();
        Envelope evilRoot = Envelope.unsigned(FirmwareMetadata.root("acme", 2, Instant.now().plus(Duration.ofDays(30)),
                List.of(evil.getPublic()), 1, List.of(ReleaseKeys.fromRaw(Base64.getDecoder().decode(timestampKey)))))
                .sign(evil.getPrivate(), ReleaseKeys.keyId(evil.getPublic()));
        server.sql(h -> h.createUpdate("INSERT INTO firmware_roots (tenant_id, version, envelope, created_ms, created_by) "
                        + "VALUES ('acme', 2, :e, 0, 'nobody')").bind("e", new String(evilRoot.toJson(), StandardCharsets.UTF_8)).execute());
        Envelope evilTargets = Envelope.unsigned(FirmwareMetadata.targets("acme", "thermo", List.of("rev-a"), "6.6.6", 666,
                ReleaseKeys.sha256Hex(image), image.length, Instant.now().plus(Duration.ofDays(30))))
                .sign(evil.getPrivate(), ReleaseKeys.keyId(evil.getPublic()));
        ApiClient.Result up = api.post("/api/v1/firmware", publisher, Map.of("targets", JSON.readTree(evilTargets.toJson()),
                "image", Base64.getEncoder().encodeToString(image)));
        assertThat(up.status()).as(up.body()).isEqualTo(201); // the server was fooled
        rollout(up.json().get("id").asText());
        FirmwareUpdater.Outcome o = awaitOutcome(d);
        assertThat(o.installed()).isFalse();
        assertThat(o.reason()).isEqualTo("threshold-not-met"); // root 2 is not signed by root 1's keys
        assertThat(installed).isEmpty();
        assertThat(d.firmware().installedVersionNumber()).isZero();
    }

    @Test
    void a_root_rotation_needs_the_old_threshold_and_devices_follow_it() throws Exception {
        cli("firmware", "keygen", "--out", keys.toString(), "--name", "dave");
        cli("firmware", "rotate-root", "--previous", keys.resolve("root.json").toString(), "--release-key", pub("carol"), "--release-key",
                pub("dave"), "--threshold", "2", "--timestamp-key", timestampKey, "--out", keys.resolve("root2.json").toString());
        cli("firmware", "cosign", "--key", key("carol"), keys.resolve("root2.json").toString());
        cli("firmware", "cosign", "--key", key("dave"), keys.resolve("root2.json").toString());
        ApiClient.Result refused = api.send("PUT", "/api/v1/firmware/root", admin, "application/json", Files.readAllBytes(keys.resolve("root2.json")));
        assertThat(refused.status()).isEqualTo(422); // carol alone is one of the old root's two
        cli("firmware", "cosign", "--key", key("alice"), keys.resolve("root2.json").toString());
        assertThat(api.send("PUT", "/api/v1/firmware/root", admin, "application/json", Files.readAllBytes(keys.resolve("root2.json"))).status())
                .isEqualTo(200);
        BulwarkDevice d = device("thermo-9", "thermo", null); // its factory root is version 1
        ApiClient.Result r = upload(targets("new.json", "thermo", 11, "carol", "dave"), image, publisher);
        assertThat(r.status()).as(r.body()).isEqualTo(201);
        rollout(r.json().get("id").asText());
        FirmwareUpdater.Outcome o = awaitOutcome(d);
        assertThat(o.installed()).as(o.reason()).isTrue();
        assertThat(Files.readString(home.resolve("thermo-9").resolve("firmware-root.json"))).contains("\"version\":2");
    }

    @Test
    void a_rollout_goes_canary_first_pauses_itself_on_failures_and_obeys_pause_resume_abort() throws Exception {
        List<BulwarkDevice> fleet = new ArrayList<>();
        for (int i = 0; i < 4; i++) {
            fleet.add(device("fleet-" + i, "thermo", null));
        }
        String rel = release("thermo", 11);
        ApiClient.Result created = api.post("/api/v1/rollouts", publisher, Map.of("release", rel, "stages", List.of(25, 100),
                "maxFailurePercent", 0));
        String ro = created.json().get("id").asText();
        // the canary: one device of four
        await().atMost(Duration.ofSeconds(30)).until(() -> installed.size() == 1);
        Thread.sleep(3_000);
        assertThat(installed).hasSize(1);
        JsonNode state = api.get("/api/v1/rollouts/" + ro, publisher).json();
        assertThat(state.get("percent").asInt()).isEqualTo(25);
        await().atMost(Duration.ofSeconds(10)).until(() -> api.get("/api/v1/rollouts/" + ro, publisher).json().path("counts")
                .path("installed").asInt() == 1);
        // pause: advancing still moves the stage, but nothing is offered while paused
        assertThat(api.post("/api/v1/rollouts/" + ro + "/pause", publisher, null).status()).isEqualTo(200);
        assertThat(api.post("/api/v1/rollouts/" + ro + "/advance", publisher, null).status()).isEqualTo(200);
        Thread.sleep(3_000);
        assertThat(installed).hasSize(1);
        assertThat(api.post("/api/v1/rollouts/" + ro + "/resume", publisher, null).status()).isEqualTo(200);
        await().atMost(Duration.ofSeconds(30)).until(() -> installed.size() == 4);
        // a device reports its install after it has installed: the count follows its report
        await().atMost(Duration.ofSeconds(10)).until(() -> api.get("/api/v1/rollouts/" + ro, publisher).json().path("counts")
                .path("installed").asInt() == 4);
        assertThat(api.post("/api/v1/rollouts/" + ro + "/abort", server.operator("acme", "sec", "security-analyst"), null).status())
                .isEqualTo(200);
        assertThat(api.post("/api/v1/rollouts/" + ro + "/resume", publisher, null).status()).isEqualTo(409);

        // a release whose installs fail: the rollout pauses itself past its failure bound
        String bad = release("thermo", 12);
        server.sql(h -> h.createUpdate("UPDATE firmware_releases SET targets = REPLACE(targets, '\"rev-a\"', '\"rev-q\"') WHERE id = :id")
                .bind("id", bad).execute());
        String ro2 = api.post("/api/v1/rollouts", publisher, Map.of("release", bad, "stages", List.of(50, 100), "maxFailurePercent", 10))
                .json().get("id").asText();
        await().atMost(Duration.ofSeconds(30)).until(() -> api.get("/api/v1/rollouts/" + ro2, publisher).json().get("state").asText()
                .equals("paused"));
        JsonNode paused = api.get("/api/v1/rollouts/" + ro2, publisher).json();
        assertThat(paused.get("reason").asText()).contains("above the bound of 10%");
        assertThat(paused.path("counts").path("failed").asInt()).isBetween(1, 2);
        assertThat(installed).hasSize(4);
        // a paused rollout's release gets no fresh timestamp and no image
        assertThat(status(fleet.get(0), "/device/v1/firmware/" + bad)).isEqualTo(404);
        assertThat(status(fleet.get(0), "/device/v1/firmware/" + bad + "/image")).isEqualTo(404);
    }

    @Test
    void image_ranges_are_read_from_the_sealed_chunks_across_chunk_boundaries_and_whole_downloads_stream() throws Exception {
        BulwarkDevice device = device("thermo-9", "thermo", null);
        String rel = release("thermo", 11);
        rollout(rel);
        assertThat(awaitOutcome(device).installed()).isTrue(); // offered and installed; the rollout keeps running
        Path pem = home.resolve("thermo-9").resolve("credentials.pem");
        MqttKit.Device d = new MqttKit.Device("thermo-9", pem, pem, null);
        String path = "/device/v1/firmware/" + rel + "/image";
        assertThat(download(d, path, "65530-65545")).isEqualTo(java.util.Arrays.copyOfRange(image, 65530, 65546));
        assertThat(download(d, path, "131072-131072")).isEqualTo(java.util.Arrays.copyOfRange(image, 131072, 131073));
        assertThat(download(d, path, (image.length - 5) + "-")).isEqualTo(java.util.Arrays.copyOfRange(image, image.length - 5, image.length));
        // more than one piece of a download (512 KiB), from an offset inside a chunk
        assertThat(download(d, path, "100-" + (image.length - 1))).isEqualTo(java.util.Arrays.copyOfRange(image, 100, image.length));
        assertThat(download(d, path, null)).isEqualTo(image);
        assertThat(download(d, path, image.length + "-")).isEmpty(); // 416, no body
    }

    /** The body curl receives for {@code path} with a client certificate and an optional range. */
    private byte[] download(MqttKit.Device d, String path, String range) throws Exception {
        Path out = Files.createTempFile(home, "range-", ".bin");
        List<String> cmd = new ArrayList<>(List.of("curl", "-s", "-f", "-o", out.toString(), "--cacert", server.dataDir().resolve("pki/ca.pem")
                .toString(), "--cert", d.cert().toString(), "--key", d.key().toString()));
        if (range != null) {
            cmd.addAll(List.of("-r", range));
        }
        cmd.add("https://localhost:" + server.node().deviceHttpsPort() + path);
        MqttKit.run(cmd, 30);
        return Files.readAllBytes(out);
    }

    private JsonNode fetch(BulwarkDevice d, String path) throws Exception {
        Path pem = home.resolve(d.id().value()).resolve("credentials.pem");
        String body = MqttKit.run(List.of("curl", "-s", "--cacert", server.dataDir().resolve("pki/ca.pem").toString(), "--cert", pem.toString(),
                "--key", pem.toString(), "https://localhost:" + server.node().deviceHttpsPort() + path), 30).output();
        return JSON.readTree(body);
    }

    private int status(BulwarkDevice d, String path) {
        Path pem = home.resolve(d.id().value()).resolve("credentials.pem");
        return Integer.parseInt(MqttKit.run(List.of("curl", "-s", "-o", "/dev/null", "-w", "%{http_code}", "--cacert",
                server.dataDir().resolve("pki/ca.pem").toString(), "--cert", pem.toString(), "--key", pem.toString(),
                "https://localhost:" + server.node().deviceHttpsPort() + path), 30).output().trim());
    }
}
