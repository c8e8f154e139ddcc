package dev.bulwark.server.monitor;

import static org.assertj.core.api.Assertions.assertThat;

import dev.bulwark.server.config.DetectionSettings;
import dev.bulwark.server.testkit.TestClock;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import org.junit.jupiter.api.Test;

class SourceGuardTest {
    final TestClock clock = new TestClock();
    final SourceGuard guard = new SourceGuard(clock, DetectionSettings.defaults());

    @Test
    void the_tarpit_spares_the_first_failures_then_doubles_up_to_its_maximum_and_forgets_after_the_window() {
        List<Long> delays = new ArrayList<>();
        for (int i = 0; i < 9; i++) {
            delays.add(guard.failed("198.51.100.1"));
        }
        assertThat(delays).containsExactly(0L, 0L, 0L, 250L, 500L, 1000L, 2000L, 4000L, 8000L);
        assertThat(guard.failed("198.51.100.1")).isEqualTo(8000L);
        assertThat(guard.failed("198.51.100.2")).as("another source is not slowed down").isZero();
        clock.advance(Duration.ofSeconds(61));
        assertThat(guard.failed("198.51.100.1")).isZero();
    }

    @Test
    void bans_double_with_each_strike_expire_and_can_be_lifted() {
        SourceGuard.Ban first = guard.ban("198.51.100.7", "brute-force", "test", "acme", null);
        assertThat(first.untilMs() - first.sinceMs()).isEqualTo(60_000);
        assertThat(guard.refuse("198.51.100.7", null)).isPresent();
        assertThat(guard.refuse("198.51.100.8", null)).isEmpty();
        clock.advance(Duration.ofSeconds(61));
        assertThat(guard.banned("198.51.100.7")).isEmpty();
        SourceGuard.Ban second = guard.ban("198.51.100.7", "brute-force", "test", "acme", null);
        assertThat(second.untilMs() - second.sinceMs()).isEqualTo(120_000);
        assertThat(guard.lift(second.id())).isPresent();
        assertThat(guard.refuse("198.51.100.7", null)).isEmpty();
        for (int i = 0; i < 10; i++) {
            clock.advance(Duration.ofHours(2));
            guard.ban("198.51.100.7", "brute-force", "test", "acme", null);
        }
        SourceGuard.Ban capped = guard.banned("198.51.100.7").orElseThrow();
        assertThat(capped.untilMs() - capped.sinceMs()).isEqualTo(3_600_000);
    }

    @Test
    void a_credential_that_worked_from_a_banned_address_still_gets_through_and_no_other_does() {
        guard.succeeded("203.0.113.5", "c:device-cert");
        guard.ban("203.0.113.5", "enumeration", "test", null, null);
        assertThat(guard.refuse("203.0.113.5", "c:device-cert")).isEmpty();
        assertThat(guard.refuse("203.0.113.5", "c:attacker-cert")).isPresent();
        assertThat(guard.refuse("203.0.113.5", null)).isPresent();
        assertThat(guard.refuse("203.0.113.6", "c:device-cert")).isEmpty();
    }
}
