package dev.bulwark.server.telemetry;

import static org.assertj.core.api.Assertions.assertThat;
import static org.awaitility.Awaitility.await;

import dev.bulwark.server.config.DataDir;
import dev.bulwark.server.crypto.DataKeys;
import dev.bulwark.server.crypto.FileKek;
import dev.bulwark.server.store.Database;
import java.nio.file.Path;
import java.time.Duration;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.concurrent.atomic.AtomicLong;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * The group-commit queue is bounded in bytes, not only in messages: a flood of large payloads is pushed back
 * (submit refused, so the sender is slowed or refused) long before it can exhaust the heap, and every
 * message that was accepted is committed and its memory released.
 */
class WriterMemoryBoundTest {

    @Test
    void a_flood_of_large_payloads_is_pushed_back_at_the_byte_bound_and_everything_accepted_is_committed(@TempDir Path dir) {
        DataDir data = new DataDir(dir);
        Database db = Database.open(null, data);
        long bound = 1L << 20; // 1 MiB: sixteen 64 KiB messages
        try (TelemetryStore store = new TelemetryStore(db, new DataKeys(data, FileKek.loadOrCreate(data)),
                new FileLog(data.dir("telemetry-log"), db), 1000);
             GroupCommitWriter writer = new GroupCommitWriter(db, store, 100_000, bound, 4096, null)) {
            byte[] payload = new byte[64 * 1024];
            AtomicInteger committed = new AtomicInteger();
            AtomicLong highest = new AtomicLong();
            int accepted = 0;
            int refused = 0;
            for (int i = 0; i < 2000; i++) {
                boolean ok = writer.submit(new DeviceMessage("acme", "meter-1", "telemetry", i, 1, "mqtt", "127.0.0.1:1", "c", payload),
                        new GroupCommitWriter.Completion() {
                            @Override
                            public void committed() {
                                committed.incrementAndGet();
                            }

                            @Override
                            public void failed(Throwable cause) {
                            }
                        });
                highest.accumulateAndGet(writer.heldBytes(), Math::max);
                if (ok) {
                    accepted++;
                } else {
                    refused++;
                }
            }
            assertThat(refused).as("submissions refused at the byte bound").isPositive();
            assertThat(highest.get()).as("bytes held never pass the bound").isLessThanOrEqualTo(bound);
            assertThat(writer.refusedFull()).isEqualTo(refused);
            int expected = accepted;
            await().atMost(Duration.ofSeconds(30)).until(() -> committed.get() == expected);
            await().atMost(Duration.ofSeconds(5)).until(() -> writer.heldBytes() == 0);
        } finally {
            db.close();
        }
    }
}
