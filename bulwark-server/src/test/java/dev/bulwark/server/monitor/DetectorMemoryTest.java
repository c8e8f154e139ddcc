package dev.bulwark.server.monitor;

import static org.assertj.core.api.Assertions.assertThat;

import dev.bulwark.server.bus.InProcessBus;
import dev.bulwark.server.config.DetectionSettings;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;

/** The detector's windows cannot be grown without limit by a caller spraying identities and source addresses. */
class DetectorMemoryTest {
    final SourceGuardTest.FrozenClock clock = new SourceGuardTest.FrozenClock();
    final List<Alert> alerts = new ArrayList<>();
    final InProcessBus bus = new InProcessBus(16);
    final Detector detector = new Detector(DetectionSettings.defaults(),
            new InProcessDetectorState(DetectionSettings.defaults().window().toMillis()),
            new InProcessBans(clock, DetectionSettings.defaults()), (a, updated) -> alerts.add(a), bus);

    @AfterEach
    void closeBus() {
        bus.close();
    }

    @Test
    void failures_from_ever_new_ipv6_sources_and_names_stay_within_the_bound_and_expire_after_the_window() {
        int sprayed = Detector.MAX_KEYS + 50_000;
        long t0 = System.nanoTime();
        for (int i = 0; i < sprayed; i++) {
            detector.onAttempt(new AuthAttempt(clock.nowMs(), null, "user:guess-" + i, "s:" + i,
                    String.format("2001:db8:%x:%x::1", i >>> 16, i & 0xffff), 40000, "mqtt", false, "token-unknown"));
        }
        assertThat(detector.tracked()).isLessThanOrEqualTo(2 * Detector.MAX_KEYS);
        assertThat(Duration.ofNanos(System.nanoTime() - t0)).as("no scan of the whole map per failure").isLessThan(Duration.ofSeconds(60));
        assertThat(alerts).isEmpty();
        clock.advance(Duration.ofSeconds(61));
        detector.onAttempt(new AuthAttempt(clock.nowMs(), null, "user:late", "s:late", "198.51.100.1", 40000, "mqtt", false, "token-unknown"));
        assertThat(detector.tracked()).as("entries older than the window are dropped as the maps are used").isEqualTo(2);
    }
}
