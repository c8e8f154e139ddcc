package dev.bulwark.server.telemetry;

import static org.assertj.core.api.Assertions.assertThat;

import dev.bulwark.server.config.DataDir;
import dev.bulwark.server.testkit.TestServer;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.sql.Connection;
import java.sql.DriverManager;
import java.sql.PreparedStatement;
import java.util.List;
import org.flywaydb.core.Flyway;
import org.junit.jupiter.api.Test;

/**
 * Upgrading a node whose messages were stored one row each (schema 10) keeps every message: the migration
 * carries them into the log, the node moves them into segments at start, in their order, with their kinds.
 */
class UpgradeKeepsMessagesTest {

    @Test
    void messages_stored_one_row_each_survive_the_move_to_log_and_segments() throws Exception {
        Path data = Files.createTempDirectory("bulwark-upgrade-");
        String password = "upgrade-test-password";
        DataDir.createSecret(data.resolve("db/credentials"), password);
        String url = "jdbc:h2:file:" + data.resolve("db/bulwark").toAbsolutePath();
        Flyway.configure().dataSource(url, "bulwark", password)
                .locations("classpath:db/migration/common", "classpath:db/migration/h2").target("10").load().migrate();
        try (Connection c = DriverManager.getConnection(url, "bulwark", password);
             PreparedStatement ps = c.prepareStatement("INSERT INTO device_messages (tenant_id, device_id, kind, received_ms, qos, "
                     + "channel, source, connection, key_id, payload) VALUES ('acme', ?, ?, ?, 1, 'mqtt', '127.0.0.1:4000', 'c-1', NULL, ?)")) {
            for (int i = 1; i <= 2500; i++) {
                ps.setString(1, i % 2 == 0 ? "meter-2" : "meter-1");
                ps.setString(2, i % 5 == 0 ? "events" : "telemetry");
                ps.setLong(3, 1_700_000_000_000L + i);
                ps.setBytes(4, ("m-" + i).getBytes(StandardCharsets.UTF_8));
                ps.addBatch();
            }
            ps.executeBatch();
        }
        try (TestServer server = TestServer.startIn(data)) {
            List<StoredMessage> stored = server.stored();
            assertThat(stored).hasSize(2500);
            List<String> meter1 = stored.stream().filter(m -> m.deviceId().equals("meter-1") && m.kind().equals("telemetry"))
                    .sorted(java.util.Comparator.comparingLong(StoredMessage::seq))
                    .map(m -> new String(m.payload(), StandardCharsets.UTF_8)).toList();
            assertThat(meter1).hasSize(1000).startsWith("m-1", "m-3", "m-7").endsWith("m-2499");
            assertThat(stored.stream().filter(m -> m.kind().equals("events")).count()).isEqualTo(500);
            assertThat(server.count("SELECT COUNT(*) FROM telemetry_log")).isZero();
        }
    }
}
