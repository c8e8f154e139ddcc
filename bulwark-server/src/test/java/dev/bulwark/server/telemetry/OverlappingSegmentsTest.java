package dev.bulwark.server.telemetry;

import static org.assertj.core.api.Assertions.assertThat;

import dev.bulwark.server.crypto.DataKeys;
import dev.bulwark.server.crypto.Keks;
import dev.bulwark.server.testkit.Backend;
import dev.bulwark.server.testkit.FreshDatabase;
import java.util.ArrayList;
import java.util.List;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedClass;
import org.junit.jupiter.params.provider.EnumSource;

/**
 * In a cluster, two nodes can write segments of one device whose seq ranges overlap (a device moving between
 * nodes, one node's log rows moved by another's read): paging through the device's messages still returns every
 * message once, in seq order.
 */
@ParameterizedClass
@EnumSource(Backend.class)
class OverlappingSegmentsTest extends FreshDatabase {
    SegmentStore segments;

    @Override
    protected void seed() {
        segments = new SegmentStore(new DataKeys(dataDir, Keks.open(dev.bulwark.server.config.KekSettings.dataDirectory(), dataDir)));
    }

    private static StoredMessage message(long row) {
        return new StoredMessage("acme", "thermo-1", "telemetry", row << 16, 1_700_000_000_000L + row, 1, "mqtt", "127.0.0.1:1", "c", null,
                ("m" + row).getBytes());
    }

    /** One compaction of the given log rows: one segment of the device. */
    private void segment(long... rows) {
        List<StoredMessage> ms = new ArrayList<>();
        for (long r : rows) {
            ms.add(message(r));
        }
        tx(h -> segments.write(h, List.of(new MessageLog.Batch(ms, rows))));
    }

    private List<Long> pageThrough(int limit) {
        List<Long> rows = new ArrayList<>();
        long after = 0;
        while (true) {
            long from = after;
            List<StoredMessage> page = db.read(h -> segments.page(h,
                    new TelemetryStore.Query("acme", "thermo-1", "telemetry", null, 0, Long.MAX_VALUE, from), limit));
            if (page.isEmpty()) {
                return rows;
            }
            for (StoredMessage m : page) {
                rows.add(m.seq() >>> 16);
            }
            after = page.get(page.size() - 1).seq();
        }
    }

    @Test
    void a_segment_read_late_that_starts_early_is_not_skipped() {
        for (long r = 100; r < 120; r++) {
            segment(r);
        }
        segment(50, 130); // written by another node: it starts before all the others and ends after them
        segment(60, 70, 80, 90); // and one that ends before them
        List<Long> expected = new ArrayList<>(List.of(50L, 60L, 70L, 80L, 90L));
        for (long r = 100; r < 120; r++) {
            expected.add(r);
        }
        expected.add(130L);
        for (int limit : new int[] {1, 3, 5, 7, 16, 100}) {
            assertThat(pageThrough(limit)).as("pages of %d", limit).containsExactlyElementsOf(expected);
        }
    }
}
