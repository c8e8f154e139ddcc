package dev.bulwark.server.mqtt;

import static org.assertj.core.api.Assertions.assertThat;

import dev.bulwark.server.monitor.SecurityEvent;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.atomic.AtomicLong;
import org.junit.jupiter.api.Test;

class RecordThrottleTest {
    final AtomicLong now = new AtomicLong(1_000_000);
    final List<SecurityEvent> recorded = new ArrayList<>();
    final RecordThrottle throttle = new RecordThrottle(now::get, recorded::add);

    private static SecurityEvent event(String address, int port, String reason) {
        return new SecurityEvent(0, null, "mqtt-protocol-violation", reason, null, address, port, "mqtt", null);
    }

    @Test
    void the_first_of_a_kind_is_recorded_at_once_and_the_rest_of_the_interval_only_as_a_count() {
        for (int i = 0; i < 50; i++) {
            throttle.record(event("192.0.2.1", 40_000 + i, "a PUBLISH before CONNECT"));
        }
        assertThat(recorded).hasSize(1);
        assertThat(recorded.get(0).detail()).isEqualTo("count: 1");
        now.addAndGet(RecordThrottle.INTERVAL_MS);
        throttle.record(event("192.0.2.1", 41_000, "a PUBLISH before CONNECT"));
        assertThat(recorded).hasSize(2);
        assertThat(recorded.get(1).detail()).startsWith("count: 50 ");
        assertThat(recorded.get(1).sourcePort()).isEqualTo(41_000);
    }

    @Test
    void counts_left_pending_are_recorded_by_the_periodic_flush_and_idle_kinds_are_forgotten() {
        throttle.record(event("192.0.2.2", 1, "bad remaining length"));
        throttle.record(event("192.0.2.2", 2, "bad remaining length"));
        throttle.record(event("192.0.2.2", 3, "bad remaining length"));
        throttle.flush();
        assertThat(recorded).as("still within the interval").hasSize(1);
        now.addAndGet(RecordThrottle.INTERVAL_MS);
        throttle.flush();
        assertThat(recorded).hasSize(2);
        assertThat(recorded.get(1).detail()).startsWith("count: 2 ");
        now.addAndGet(RecordThrottle.INTERVAL_MS);
        throttle.flush();
        assertThat(recorded).as("nothing pending: nothing recorded").hasSize(2);
        throttle.record(event("192.0.2.2", 4, "bad remaining length"));
        assertThat(recorded).as("a forgotten kind is recorded at once again").hasSize(3);
    }

    @Test
    void sources_and_kinds_are_throttled_apart() {
        throttle.record(event("192.0.2.3", 1, "a PUBLISH before CONNECT"));
        throttle.record(event("192.0.2.4", 1, "a PUBLISH before CONNECT"));
        throttle.record(event("192.0.2.3", 2, "a second CONNECT on the same connection"));
        assertThat(recorded).hasSize(3);
    }
}
