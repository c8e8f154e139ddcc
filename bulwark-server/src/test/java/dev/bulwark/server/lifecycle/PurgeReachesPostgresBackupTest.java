package dev.bulwark.server.lifecycle;

import static org.assertj.core.api.Assertions.assertThat;

import com.fasterxml.jackson.databind.JsonNode;
import dev.bulwark.server.config.DataDir;
import dev.bulwark.server.crypto.DataKeys;
import dev.bulwark.server.crypto.FileKek;
import dev.bulwark.server.ownership.Ownership;
import dev.bulwark.server.telemetry.MessageCodec;
import dev.bulwark.server.telemetry.StoredMessage;
import dev.bulwark.server.testkit.Backend;
import dev.bulwark.server.testkit.MqttKit;
import dev.bulwark.server.testkit.NodePerTest;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.HexFormat;
import java.util.List;
import java.util.Map;
import java.util.stream.Stream;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedClass;
import org.junit.jupiter.params.provider.EnumSource;

/** Account deletion on PostgreSQL: a {@code pg_dump} taken before the purge yields none of the owner's data. */
@ParameterizedClass
@EnumSource(value = Backend.class, names = "POSTGRESQL")
class PurgeReachesPostgresBackupTest extends NodePerTest {

    @Test
    void a_pg_dump_taken_before_an_account_deletion_opens_with_nothing_left_on_the_system() throws Exception {
        String admin = server.tenantWithOperator("acme", "root", "tenant-admin");
        MqttKit kit = new MqttKit(server, admin);
        MqttKit.Device d = kit.device("thermo-1");
        JsonNode ada = api.post("/api/v1/owners", admin, Map.of("name", "Ada")).json();
        JsonNode bob = api.post("/api/v1/owners", admin, Map.of("name", "Bob")).json();
        api.post("/api/v1/devices/thermo-1/transfer", admin, Map.of("owner", ada.get("id").asText()));
        for (String m : List.of("ada-1", "ada-2")) {
            assertThat(kit.pub(d, "-i", "thermo-1", "-q", "1", "-t", "devices/thermo-1/telemetry", "-m", "{\"m\":\"" + m + "\"}").output())
                    .contains("PUBACK");
        }
        api.post("/api/v1/devices/thermo-1/transfer", admin, Map.of("owner", bob.get("id").asText()));
        assertThat(kit.pub(d, "-i", "thermo-1", "-q", "1", "-t", "devices/thermo-1/telemetry", "-m", "{\"m\":\"bob-1\"}").output())
                .contains("PUBACK");

        String url = server.databaseUrl();
        String schema = url.substring(url.indexOf("currentSchema=") + "currentSchema=".length());
        Path dump = Files.createTempDirectory("bulwark-pgdump-").resolve("before.sql");
        MqttKit.Run r = MqttKit.run(List.of("pg_dump", "-h", "127.0.0.1", "-U", "postgres", "-d", "test", "--data-only",
                "-t", schema + ".telemetry_log", "-t", schema + ".telemetry_segments", "-f", dump.toString()), 60);
        assertThat(r.exit()).as(r.output()).isZero();

        assertThat(api.delete("/api/v1/owners/" + ada.get("id").asText(), admin).status()).isEqualTo(200);

        DataDir data = new DataDir(server.dataDir());
        DataKeys keys = new DataKeys(data, FileKek.loadOrCreate(data));
        List<String> keyIds;
        try (Stream<Path> files = Files.list(server.dataDir().resolve("keys/data"))) {
            keyIds = files.map(p -> p.getFileName().toString()).toList();
        }
        List<String> lines = Files.readAllLines(dump);
        List<StoredMessage> inDump = new java.util.ArrayList<>();
        for (Map<String, String> row : copied(lines, schema + ".telemetry_log")) {
            inDump.addAll(MessageCodec.decodeLog(Long.parseLong(row.get("id")) << 16, bytes(row.get("body"))));
        }
        for (Map<String, String> row : copied(lines, schema + ".telemetry_segments")) {
            inDump.addAll(MessageCodec.decodeSegment(row.get("tenant_id"), row.get("device_id"), row.get("kind"), row.get("key_id"),
                    bytes(row.get("body"))));
        }
        assertThat(inDump).as("the dump holds the messages").hasSize(3);
        int opened = 0;
        int closed = 0;
        for (StoredMessage m : inDump) {
            byte[] payload = m.payload();
            byte[] aad = Ownership.aad(m.tenantId(), m.deviceId(), m.kind());
            boolean any = false;
            for (String k : keyIds) {
                try {
                    any |= keys.open(k, payload, aad).isPresent();
                } catch (IllegalStateException wrongKey) {
                    // not this key
                }
            }
            assertThat(new String(payload, StandardCharsets.ISO_8859_1)).doesNotContain("ada-");
            if (any) {
                opened++;
            } else {
                closed++;
            }
        }
        assertThat(closed).as("Ada's messages in the dump").isEqualTo(2);
        assertThat(opened).as("Bob's message still opens: the check works").isEqualTo(1);
    }

    /** The rows of {@code table}'s COPY block in a plain-text dump, by column name. */
    private static List<Map<String, String>> copied(List<String> lines, String table) {
        int start = -1;
        for (int i = 0; i < lines.size(); i++) {
            if (lines.get(i).startsWith("COPY " + table + " (")) {
                start = i;
            }
        }
        assertThat(start).as("the dump holds " + table).isNotNegative();
        List<String> columns = Arrays.stream(lines.get(start).replaceAll("^COPY [^(]*\\(|\\) FROM stdin;$", "").split(", ")).toList();
        List<Map<String, String>> rows = new java.util.ArrayList<>();
        for (int i = start + 1; !lines.get(i).equals("\\."); i++) {
            String[] f = lines.get(i).split("\t", -1);
            Map<String, String> row = new java.util.HashMap<>();
            for (int c = 0; c < columns.size(); c++) {
                row.put(columns.get(c), f[c].equals("\\N") ? null : f[c]);
            }
            rows.add(row);
        }
        return rows;
    }

    private static byte[] bytes(String dumped) {
        return HexFormat.of().parseHex(dumped.substring(dumped.indexOf('x') + 1));
    }
}
