package dev.bulwark.server.telemetry;

import static org.assertj.core.api.Assertions.assertThat;

import com.fasterxml.jackson.databind.JsonNode;
import dev.bulwark.server.testkit.Backend;
import dev.bulwark.server.testkit.MqttKit;
import dev.bulwark.server.testkit.TestServer;
import java.nio.ByteBuffer;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.attribute.PosixFilePermissions;
import java.util.ArrayList;
import java.util.List;
import java.util.stream.Stream;
import org.junit.jupiter.api.Test;

/**
 * The embedded node's telemetry log after a crash: a record torn mid-write, or one whose checksum fails, is
 * ignored at the next start (it was never acknowledged), and everything acknowledged before is still there,
 * once, in order. Log files are readable by their owner only.
 */
class TelemetryLogRecoveryTest {

    @Test
    void a_torn_or_damaged_log_record_is_ignored_at_start_and_nothing_acknowledged_is_lost() throws Exception {
        try (TestServer server = TestServer.start(Backend.H2)) {
            String admin = server.tenantWithOperator("acme", "root", "tenant-admin");
            MqttKit kit = new MqttKit(server, admin);
            MqttKit.Device d = kit.device("meter-1");
            for (int i = 1; i <= 5; i++) {
                assertThat(kit.pub(d, "-i", "meter-1", "-q", "1", "-t", "devices/meter-1/telemetry", "-m", "{\"n\":" + i + "}").output())
                        .contains("PUBACK");
            }
            Path logDir = server.dataDir().resolve("telemetry-log");
            assertThat(PosixFilePermissions.toString(Files.getPosixFilePermissions(logDir))).isEqualTo("rwx------");
            try (Stream<Path> files = Files.list(logDir)) {
                for (Path f : files.toList()) {
                    assertThat(PosixFilePermissions.toString(Files.getPosixFilePermissions(f))).isEqualTo("rw-------");
                }
            }
            server.stop();

            // stopped cleanly, everything is in segments and no log file is left behind
            try (Stream<Path> files = Files.list(logDir)) {
                assertThat(files.toList()).isEmpty();
            }
            // what a crash can leave: a record whose header promises more than was written
            Path torn = logDir.resolve(String.format("%019d.log", 1L << 40));
            Files.write(torn, ByteBuffer.allocate(40).putInt(1000).putInt(0).putLong(1L << 40).array());
            // and a whole record whose checksum does not match its content
            Path damaged = logDir.resolve(String.format("%019d.log", 1L << 41));
            ByteBuffer rec = ByteBuffer.allocate(16 + 9).putInt(17).putInt(12345).putLong(1L << 41).put((byte) 1).putLong(0).flip();
            Files.write(damaged, rec.array());

            server.restart();
            assertThat(kit.pub(d, "-i", "meter-1", "-q", "1", "-t", "devices/meter-1/telemetry", "-m", "{\"n\":6}").output())
                    .contains("PUBACK");
            JsonNode items = server.api().get("/api/v1/devices/meter-1/telemetry?limit=100", admin).json().get("items");
            List<Integer> seen = new ArrayList<>();
            items.forEach(i -> seen.add(i.get("payload").get("n").asInt()));
            assertThat(seen).containsExactly(1, 2, 3, 4, 5, 6);
            assertThat(torn).doesNotExist();
            assertThat(damaged).doesNotExist();
        }
    }
}
