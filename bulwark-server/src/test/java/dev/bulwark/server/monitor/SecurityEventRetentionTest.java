package dev.bulwark.server.monitor;

import static org.assertj.core.api.Assertions.assertThat;
import static org.awaitility.Awaitility.await;

import dev.bulwark.server.config.SecurityEventSettings;
import dev.bulwark.server.config.ServerConfig;
import dev.bulwark.server.testkit.Backend;
import dev.bulwark.server.testkit.NodePerTest;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.attribute.PosixFilePermissions;
import java.time.Duration;
import java.util.List;
import java.util.stream.Stream;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedClass;
import org.junit.jupiter.params.provider.EnumSource;

/**
 * Recording refusals cannot fill the disk: security events and alerts older than the retention are deleted
 * by a periodic job, and the JSON Lines file rotates by size, keeping a bounded number of owner-only files.
 */
@ParameterizedClass
@EnumSource(Backend.class)
class SecurityEventRetentionTest extends NodePerTest {

    @Override
    protected void configure(ServerConfig.Builder b) {
        b.securityEvents(SecurityEventSettings.defaults().withRetention(Duration.ofDays(1)).withPurgeInterval(Duration.ofSeconds(1))
                .withLog(8192, 3));
    }

    /** One security event: a request without a token (recorded, never tarpitted). */
    private void refusal() {
        assertThat(api.get("/api/v1/devices", null).status()).isEqualTo(401);
    }

    @Test
    void events_and_alerts_older_than_the_retention_are_deleted_by_the_periodic_job_and_newer_ones_stay() {
        for (int i = 0; i < 3; i++) {
            refusal();
        }
        await().atMost(Duration.ofSeconds(10)).until(() -> server.count("SELECT COUNT(*) FROM security_events WHERE reason = 'missing'") == 3);
        long old = System.currentTimeMillis();
        server.sql(h -> h.createUpdate("INSERT INTO security_alerts (id, time_ms, updated_ms, tenant_id, label, severity, subject, evidence, "
                + "action) VALUES ('alert-00000000000000aa', :t, :t, NULL, 'enumeration', 'critical', '198.51.100.1', '{}', 'none')")
                .bind("t", old).execute());

        server.clock().advance(Duration.ofDays(2)); // the retention is one day
        refusal();
        await().atMost(Duration.ofSeconds(15)).until(() -> server.count("SELECT COUNT(*) FROM security_events WHERE time_ms < " + (old + 1000)) == 0
                && server.count("SELECT COUNT(*) FROM security_alerts") == 0);
        await().atMost(Duration.ofSeconds(10)).until(() -> server.count("SELECT COUNT(*) FROM security_events WHERE reason = 'missing'") == 1);
        assertThat(server.node().securityEvents().purged()).isGreaterThanOrEqualTo(3);
    }

    @Test
    void the_json_lines_file_rotates_by_size_and_keeps_only_a_bounded_number_of_owner_only_files() throws Exception {
        Path log = server.dataDir().resolve("log");
        for (int i = 0; i < 150; i++) {
            refusal();
        }
        await().atMost(Duration.ofSeconds(15)).until(() -> server.node().securityEvents().written() >= 150);
        List<Path> files;
        try (Stream<Path> s = Files.list(log)) {
            files = s.filter(p -> p.getFileName().toString().startsWith("security-events.jsonl")).sorted().toList();
        }
        // about 45 KB of events at 8 KiB per file: the current file and three rotated ones, the oldest deleted
        assertThat(files.stream().map(p -> p.getFileName().toString())).containsExactly("security-events.jsonl",
                "security-events.jsonl.1", "security-events.jsonl.2", "security-events.jsonl.3");
        for (Path p : files) {
            assertThat(Files.size(p)).as(p.toString()).isLessThanOrEqualTo(8192);
            assertThat(PosixFilePermissions.toString(Files.getPosixFilePermissions(p))).as(p.toString()).isEqualTo("rw-------");
            for (String line : Files.readAllLines(p)) {
                assertThat(line).startsWith("{\"time\":").endsWith("}"); // whole lines only: a record is never split
            }
        }
        // the newest events are in the current file
        assertThat(Files.readString(log.resolve("security-events.jsonl"))).contains("\"reason\":\"missing\"");
    }
}
