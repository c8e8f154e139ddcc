package dev.bulwark.server.lifecycle;

import static org.assertj.core.api.Assertions.assertThat;
import static org.awaitility.Awaitility.await;

import com.fasterxml.jackson.databind.JsonNode;
import dev.bulwark.server.cli.ApiClient;
import dev.bulwark.server.config.DataDir;
import dev.bulwark.server.crypto.DataKeys;
import dev.bulwark.server.crypto.FileKek;
import dev.bulwark.server.ownership.Ownership;
import dev.bulwark.server.telemetry.StoredMessage;
import dev.bulwark.server.telemetry.TelemetryStore;
import dev.bulwark.server.testkit.Backend;
import dev.bulwark.server.testkit.MqttKit;
import dev.bulwark.server.testkit.NodePerTest;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.sql.Connection;
import java.sql.DriverManager;
import java.sql.ResultSet;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.stream.Stream;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedClass;
import org.junit.jupiter.params.provider.EnumSource;

/**
 * Owners, ownership periods with a key each, transfer (resale) and account deletion that reaches backups.
 * The purge test works on the embedded database, whose backup is a file this test can open on its own.
 */
@ParameterizedClass
@EnumSource(value = Backend.class, names = "H2")
class OwnershipTest extends NodePerTest {
    String admin;
    MqttKit kit;
    MqttKit.Device device;

    @BeforeEach
    void start() {
        admin = server.tenantWithOperator("acme", "root", "tenant-admin");
        kit = new MqttKit(server, admin);
        device = kit.device("thermo-1");
    }

    private JsonNode owner(String name) {
        ApiClient.Result r = api.post("/api/v1/owners", admin, Map.of("name", name, "email", name.toLowerCase() + "@example.com"));
        assertThat(r.status()).as(r.body()).isEqualTo(201);
        return r.json();
    }

    private void send(String marker) {
        assertThat(kit.pub(device, "-i", "thermo-1", "-q", "1", "-t", "devices/thermo-1/telemetry", "-m", "{\"m\":\"" + marker + "\"}")
                .output()).contains("PUBACK");
    }

    private List<String> markers(String token) {
        ApiClient.Result r = api.get("/api/v1/devices/thermo-1/telemetry?limit=1000", token);
        if (r.status() == 404) {
            return null;
        }
        List<String> out = new ArrayList<>();
        r.json().get("items").forEach(i -> out.add(i.path("payload").path("m").asText()));
        return out;
    }

    @Test
    void each_period_has_its_key_and_a_new_owner_sees_nothing_from_before() {
        JsonNode ada = owner("Ada");
        JsonNode bob = owner("Bob");
        send("factory-test");
        assertThat(api.post("/api/v1/devices/thermo-1/transfer", admin, Map.of("owner", ada.get("id").asText())).status()).isEqualTo(200);
        send("ada-secret");
        assertThat(kit.pub(device, "-i", "thermo-1", "-q", "1", "-t", "devices/thermo-1/events", "-m", "{\"m\":\"ada-event\"}").output())
                .contains("PUBACK");
        assertThat(kit.pub(device, "-i", "thermo-1", "-q", "1", "-t", "devices/thermo-1/config/reported", "-m", "{\"home\":\"ada-street\"}")
                .output()).contains("PUBACK");
        await().atMost(Duration.ofSeconds(10)).until(() -> api.get("/api/v1/devices/thermo-1/config", admin).json().path("reported")
                .path("home").asText().equals("ada-street"));
        String storedReport = server.sql(h -> h.createQuery("SELECT reported FROM device_config").mapTo(String.class).one());
        assertThat(storedReport).startsWith("sealed:").doesNotContain("ada-street");
        assertThat(api.post("/api/v1/devices/thermo-1/transfer", admin, Map.of("owner", bob.get("id").asText())).status()).isEqualTo(200);
        // what the device reported in Ada's period is gone with it; Bob gets no config and no events of hers
        assertThat(api.get("/api/v1/devices/thermo-1/config", admin).json().path("reported").isMissingNode()
                || api.get("/api/v1/devices/thermo-1/config", admin).json().path("reported").isNull()).isTrue();
        assertThat(api.get("/api/v1/devices/thermo-1/config", bob.get("token").asText()).status()).isEqualTo(403);
        assertThat(api.get("/api/v1/devices/thermo-1/telemetry?kind=events", bob.get("token").asText()).json().get("items")).isEmpty();
        assertThat(api.get("/api/v1/devices/thermo-1/telemetry?kind=events", ada.get("token").asText()).json().get("items")).hasSize(1);
        send("bob-reading");

        // stored encrypted: the markers are nowhere in the table, and three periods used three keys
        List<StoredMessage> stored = server.stored();
        assertThat(stored).isNotEmpty().allSatisfy(m -> assertThat(m.keyId()).isNotNull());
        assertThat(stored.stream().map(StoredMessage::keyId).distinct().count()).isEqualTo(3);
        assertThat(server.count("SELECT COUNT(*) FROM ownership_periods WHERE device_id = 'thermo-1'")).isEqualTo(3);
        List<byte[]> payloads = server.sql(h -> h.createQuery("SELECT body FROM telemetry_segments").mapTo(byte[].class).list());
        assertThat(payloads).isNotEmpty();
        payloads.forEach(p -> assertThat(new String(p, StandardCharsets.ISO_8859_1)).doesNotContain("secret").doesNotContain("reading"));

        assertThat(markers(admin)).containsExactly("factory-test", "ada-secret", "bob-reading");
        assertThat(markers(ada.get("token").asText())).containsExactly("ada-secret");
        assertThat(markers(bob.get("token").asText())).containsExactly("bob-reading");
        // owners read only their own account; the factory reset was queued with the transfer
        assertThat(api.get("/api/v1/owners/" + ada.get("id").asText(), bob.get("token").asText()).status()).isEqualTo(404);
        assertThat(api.get("/api/v1/owners/" + bob.get("id").asText(), bob.get("token").asText()).json().path("profile").path("name").asText())
                .isEqualTo("Bob");
        assertThat(server.count("SELECT COUNT(*) FROM commands WHERE name = 'factory-reset' AND device_id = 'thermo-1'")).isEqualTo(2);
        // an operator reading personal data is audited; an owner is no operator of anything else
        api.get("/api/v1/owners/" + ada.get("id").asText(), admin);
        assertThat(server.count("SELECT COUNT(*) FROM audit_log WHERE action = 'owner.read'")).isEqualTo(2);
        assertThat(api.get("/api/v1/devices", ada.get("token").asText()).status()).isEqualTo(403);
        // personal data is sealed too
        List<byte[]> profiles = server.sql(h -> h.createQuery("SELECT profile FROM owners").mapTo(byte[].class).list());
        profiles.forEach(p -> assertThat(new String(p, StandardCharsets.ISO_8859_1)).doesNotContain("Ada").doesNotContain("example.com"));
    }

    @Test
    void deleting_an_account_destroys_its_keys_so_a_backup_taken_before_yields_nothing() throws Exception {
        JsonNode ada = owner("Ada");
        JsonNode bob = owner("Bob");
        api.post("/api/v1/devices/thermo-1/transfer", admin, Map.of("owner", ada.get("id").asText()));
        send("ada-1");
        send("ada-2");
        api.post("/api/v1/devices/thermo-1/transfer", admin, Map.of("owner", bob.get("id").asText()));
        send("bob-1");

        // the backup, taken before the purge (of the database, once the log has moved into it)
        server.node().telemetry().flush();
        Path backup = Files.createTempDirectory("bulwark-backup-").resolve("backup.zip");
        server.sql(h -> h.execute("BACKUP TO '" + backup + "'"));

        ApiClient.Result deleted = api.delete("/api/v1/owners/" + ada.get("id").asText(), ada.get("token").asText()); // the owner's own request
        assertThat(deleted.status()).as(deleted.body()).isEqualTo(200);
        assertThat(deleted.json().get("messagesDeleted").asInt()).isEqualTo(2);
        assertThat(markers(admin)).containsExactly("bob-1");
        assertThat(api.get("/api/v1/devices", ada.get("token").asText()).status()).isEqualTo(401); // the account's token is gone
        await().atMost(Duration.ofSeconds(5)).until(() -> server.count("SELECT COUNT(*) FROM audit_log WHERE action = 'owner.delete'") == 1);

        // open the backup and try every key left on the system (the key-encryption key and every data key file)
        Path restored = backup.resolveSibling("restored");
        unzip(backup, restored);
        DataDir data = new DataDir(server.dataDir());
        DataKeys keys = new DataKeys(data, FileKek.loadOrCreate(data));
        List<String> keyIds;
        try (Stream<Path> files = Files.list(server.dataDir().resolve("keys/data"))) {
            keyIds = files.map(p -> p.getFileName().toString()).toList();
        }
        int adaRows = 0;
        int opened = 0;
        String dbFile = findDb(restored);
        try (Connection c = DriverManager.getConnection("jdbc:h2:file:" + dbFile, "bulwark",
                DataDir.read(server.dataDir().resolve("db/credentials")).trim());
) {
            for (StoredMessage m : TelemetryStore.readAll(c)) {
                byte[] aad = Ownership.aad(m.tenantId(), m.deviceId(), m.kind());
                byte[] payload = m.payload();
                boolean any = false;
                for (String k : keyIds) {
                    try {
                        if (keys.open(k, payload, aad).isPresent()) {
                            any = true;
                        }
                    } catch (IllegalStateException wrongKey) {
                        // not this key
                    }
                }
                String text = new String(payload, StandardCharsets.ISO_8859_1);
                assertThat(text).doesNotContain("ada-");
                if (any) {
                    opened++;
                } else {
                    adaRows++;
                }
            }
        }
        assertThat(adaRows).as("Ada's two messages in the backup open with nothing left").isEqualTo(2);
        assertThat(opened).as("the rest of the backup still opens: the check itself works").isEqualTo(1);
    }

    @Test
    void an_owner_exports_their_data_and_the_previous_owner_is_offered_one_at_transfer() throws Exception {
        JsonNode ada = owner("Ada");
        JsonNode bob = owner("Bob");
        String adaToken = ada.get("token").asText();
        api.post("/api/v1/devices/thermo-1/transfer", admin, Map.of("owner", ada.get("id").asText()));
        send("ada-1");
        send("ada-2");
        ApiClient.Result started = api.post("/api/v1/owners/" + ada.get("id").asText() + "/export", adaToken, null);
        assertThat(started.status()).as(started.body()).isEqualTo(202);
        String status = started.json().get("status").asText();
        await().atMost(Duration.ofSeconds(15)).until(() -> api.get(status, adaToken).json().path("state").asText().equals("done"));
        assertThat(api.get(status, adaToken).json().get("progress").asDouble()).isEqualTo(1.0);
        String jsonl = api.get(status + "/download", adaToken).body();
        List<String> lines = jsonl.lines().toList();
        assertThat(lines).hasSize(3);
        assertThat(lines.get(0)).contains("\"type\":\"owner\"").contains("thermo-1");
        assertThat(lines.stream().skip(1).map(l -> new String(java.util.Base64.getDecoder().decode(
                l.replaceAll(".*\"payloadBase64\":\"([^\"]*)\".*", "$1")), StandardCharsets.UTF_8)).toList())
                .containsExactly("{\"m\":\"ada-1\"}", "{\"m\":\"ada-2\"}");
        // another owner reaches neither the export nor the start of one
        assertThat(api.get(status, bob.get("token").asText()).status()).isEqualTo(404);
        assertThat(api.post("/api/v1/owners/" + ada.get("id").asText() + "/export", bob.get("token").asText(), null).status()).isEqualTo(404);
        // resale: Ada's period closes and she is offered an export of it
        ApiClient.Result resale = api.post("/api/v1/devices/thermo-1/transfer", admin, Map.of("owner", bob.get("id").asText()));
        assertThat(resale.json().get("previousOwnerExport").asText()).startsWith("ex-");
        // an operator downloading an owner's export is audited
        String offered = "/api/v1/owners/" + ada.get("id").asText() + "/exports/" + resale.json().get("previousOwnerExport").asText();
        await().atMost(Duration.ofSeconds(15)).until(() -> api.get(offered, admin).json().path("state").asText().equals("done"));
        assertThat(api.get(offered + "/download", admin).body()).contains("payloadBase64");
        assertThat(server.count("SELECT COUNT(*) FROM audit_log WHERE action = 'owner.export.download'")).isEqualTo(1);
        // deleting the account takes the exports (decrypted copies) with it
        assertThat(api.delete("/api/v1/owners/" + ada.get("id").asText(), admin).status()).isEqualTo(200);
        try (Stream<Path> left = Files.list(server.dataDir().resolve("exports"))) {
            assertThat(left.count()).isZero();
        }
        assertThat(api.get(offered, admin).status()).isEqualTo(404);
    }

    @Test
    void an_owner_replaces_the_token_the_tenant_admin_saw_so_the_operator_cannot_read_as_the_owner() {
        JsonNode ada = owner("Ada");
        String seenByAdmin = ada.get("token").asText();
        String id = ada.get("id").asText();
        assertThat(api.get("/api/v1/owners/" + id, seenByAdmin).status()).isEqualTo(200);
        // the tenant admin cannot rotate it for them, and another owner cannot either
        assertThat(api.post("/api/v1/owners/" + id + "/tokens", admin, null).status()).isEqualTo(403);
        String bob = owner("Bob").get("token").asText();
        assertThat(api.post("/api/v1/owners/" + id + "/tokens", bob, null).status()).isEqualTo(404);

        ApiClient.Result rotated = api.post("/api/v1/owners/" + id + "/tokens", seenByAdmin, null);
        assertThat(rotated.status()).as(rotated.body()).isEqualTo(201);
        assertThat(rotated.json().get("revokedTokens").asInt()).isEqualTo(1);
        String own = rotated.json().get("token").asText();
        assertThat(api.get("/api/v1/owners/" + id, own).status()).isEqualTo(200);
        assertThat(api.get("/api/v1/owners/" + id, seenByAdmin).status()).isEqualTo(401);
        assertThat(server.count("SELECT COUNT(*) FROM audit_log WHERE action = 'owner.token.rotate' AND tenant_id = 'acme' AND outcome = 'success'")).isEqualTo(1);
    }

    @Test
    void retention_deletes_what_is_older_than_the_tenant_keeps_and_audits_it() {
        send("old");
        assertThat(api.send("PUT", "/api/v1/tenants/acme/retention", admin, "application/json", "{\"days\":1}".getBytes()).status())
                .isEqualTo(200);
        assertThat(api.get("/api/v1/tenants/acme/retention", admin).json().get("days").asInt()).isEqualTo(1);
        server.clock().advance(Duration.ofDays(2));
        send("new");
        await().atMost(Duration.ofSeconds(30)).until(() -> markers(admin).equals(List.of("new")));
        assertThat(server.count("SELECT COUNT(*) FROM audit_log WHERE action = 'retention.purge'")).isEqualTo(1);
        String other = server.tenantWithOperator("globex", "root", "tenant-admin");
        assertThat(api.send("PUT", "/api/v1/tenants/acme/retention", other, "application/json", "{\"days\":5}".getBytes()).status())
                .isEqualTo(404);
        assertThat(api.send("PUT", "/api/v1/tenants/acme/retention", admin, "application/json", "{\"days\":0}".getBytes()).status())
                .isEqualTo(422);
    }

    private static String findDb(Path dir) throws Exception {
        try (Stream<Path> s = Files.walk(dir)) {
            Path f = s.filter(p -> p.getFileName().toString().endsWith(".mv.db")).findFirst().orElseThrow();
            String name = f.toString();
            return name.substring(0, name.length() - ".mv.db".length());
        }
    }

    private static void unzip(Path zip, Path to) throws Exception {
        Files.createDirectories(to);
        try (java.util.zip.ZipInputStream in = new java.util.zip.ZipInputStream(Files.newInputStream(zip))) {
            java.util.zip.ZipEntry e;
            while ((e = in.getNextEntry()) != null) {
                Path out = to.resolve(Path.of(e.getName()).getFileName().toString());
                Files.copy(in, out);
            }
        }
    }
}
