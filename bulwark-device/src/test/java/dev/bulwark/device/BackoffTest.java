package dev.bulwark.device;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import java.time.Duration;
import java.util.stream.LongStream;
import org.junit.jupiter.api.Test;

class BackoffTest {
    final Backoff backoff = new Backoff(Duration.ofMillis(100), Duration.ofSeconds(10));

    @Test
    void the_ceiling_doubles_per_attempt_and_stops_at_the_cap() {
        assertThat(LongStream.range(0, 10).map(a -> backoff.ceilingMs((int) a)).toArray())
                .containsExactly(100, 200, 400, 800, 1600, 3200, 6400, 10_000, 10_000, 10_000);
        assertThat(backoff.ceilingMs(1000)).isEqualTo(10_000);
    }

    @Test
    void every_delay_is_within_its_window_and_spread_over_all_of_it() {
        for (int attempt : new int[] {0, 3, 6, 20}) {
            long ceiling = backoff.ceilingMs(attempt);
            long[] d = LongStream.range(0, 20_000).map(i -> backoff.delayMs(attempt)).toArray();
            assertThat(LongStream.of(d).min().getAsLong()).isGreaterThanOrEqualTo(0).isLessThan(ceiling / 20 + 1);
            assertThat(LongStream.of(d).max().getAsLong()).isLessThanOrEqualTo(ceiling).isGreaterThan(ceiling * 19 / 20);
            double mean = LongStream.of(d).average().orElseThrow();
            assertThat(mean).as("uniform over [0, %d]", ceiling).isBetween(ceiling * 0.46, ceiling * 0.54);
            // a fleet that lost its connection together comes back spread out: no tenth of the window
            // holds much more than a tenth of the attempts
            long[] buckets = new long[10];
            for (long v : d) {
                buckets[(int) Math.min(9, v * 10 / (ceiling + 1))]++;
            }
            assertThat(LongStream.of(buckets).max().getAsLong()).isLessThan(d.length * 13 / 100);
        }
    }

    @Test
    void nonsense_settings_are_refused() {
        assertThatThrownBy(() -> new Backoff(Duration.ZERO, Duration.ofSeconds(1))).isInstanceOf(IllegalArgumentException.class);
        assertThatThrownBy(() -> new Backoff(Duration.ofSeconds(2), Duration.ofSeconds(1))).isInstanceOf(IllegalArgumentException.class);
    }
}
