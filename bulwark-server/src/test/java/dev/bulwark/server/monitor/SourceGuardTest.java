package dev.bulwark.server.monitor;

import static org.assertj.core.api.Assertions.assertThat;

import dev.bulwark.server.config.DetectionSettings;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Set;
import org.junit.jupiter.api.Test;

class SourceGuardTest {
    /** A clock that moves only when told (the guesses of one test happen "at the same instant" unless it advances). */
    static final class FrozenClock implements dev.bulwark.server.core.Clock {
        final java.util.concurrent.atomic.AtomicLong now = new java.util.concurrent.atomic.AtomicLong(1_700_000_000_000L);

        @Override
        public long nowMs() {
            return now.get();
        }

        void advance(Duration d) {
            now.addAndGet(d.toMillis());
        }
    }

    final FrozenClock clock = new FrozenClock();
    final InProcessBans guard = new InProcessBans(clock, DetectionSettings.defaults());

    @Test
    void the_tarpit_spares_the_first_failures_then_doubles_up_to_its_maximum_and_forgets_after_the_window() {
        List<Long> delays = new ArrayList<>();
        for (int i = 0; i < 9; i++) {
            long d = guard.failed("198.51.100.1");
            delays.add(d);
            clock.advance(Duration.ofMillis(d)); // one guess at a time: the next comes once the refusal arrived
        }
        assertThat(delays).containsExactly(0L, 0L, 0L, 250L, 500L, 1000L, 2000L, 4000L, 8000L);
        assertThat(guard.failed("198.51.100.1")).isEqualTo(8000L);
        assertThat(guard.failed("198.51.100.2")).as("another source is not slowed down").isZero();
        clock.advance(Duration.ofSeconds(70));
        assertThat(guard.failed("198.51.100.1")).isZero();
    }

    @Test
    void concurrent_guesses_of_one_source_wait_in_one_queue_and_a_full_queue_refuses_before_authentication() {
        // 45 guesses at the same instant: each refusal waits for the previous one, not only for its own delay
        List<Long> delays = new ArrayList<>();
        for (int i = 0; i < 45; i++) {
            delays.add(guard.failed("198.51.100.3"));
        }
        assertThat(delays.subList(0, 3)).containsOnly(0L);
        assertThat(delays.subList(3, 8)).containsExactly(250L, 750L, 1750L, 3750L, 7750L);
        assertThat(delays).isSorted();
        long backlog = guard.backlogMs();
        assertThat(backlog).isEqualTo(64_000);
        assertThat(delays.get(44)).as("the queue is bounded: no refusal waits longer than the backlog").isEqualTo(backlog);
        // while the queue is full the source is refused before its guesses are evaluated; a credential known good
        // from there is not, nor is another source
        guard.succeeded("198.51.100.3", "c:known");
        SourceGuard.Ban full = guard.refuse("198.51.100.3", "c:guess").orElseThrow();
        assertThat(full.tarpit()).isTrue();
        assertThat(full.reason()).contains("waiting in the tarpit");
        assertThat(guard.refuse("198.51.100.3", "c:known")).isEmpty();
        assertThat(guard.refuse("198.51.100.4", "c:guess")).isEmpty();
        assertThat(guard.active()).as("a full tarpit is no stored ban").isEmpty();
        clock.advance(Duration.ofMillis(backlog));
        assertThat(guard.refuse("198.51.100.3", "c:guess")).isEmpty();
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
    void a_ban_earned_against_several_tenants_protects_them_all_and_belongs_to_none_of_them() {
        SourceGuard.Ban acme = guard.ban("198.51.100.9", "credential-stuffing", "test", "acme", null);
        assertThat(acme.tenantId()).isEqualTo("acme");
        SourceGuard.Ban both = guard.ban("198.51.100.9", "credential-stuffing", "test", "globex", null);
        assertThat(both.id()).isEqualTo(acme.id());
        assertThat(both.scopes()).containsExactlyInAnyOrder("acme", "globex");
        assertThat(both.tenantId()).isNull();
        SourceGuard.Ban withPlatform = guard.ban("198.51.100.10", "brute-force", "test", "acme", null);
        withPlatform = guard.ban("198.51.100.10", "enumeration", "test", null, null);
        assertThat(withPlatform.scopes()).isEqualTo(Set.of("acme", SourceGuard.PLATFORM));
        assertThat(withPlatform.tenantId()).isNull();
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

    @Test
    void a_source_spraying_ipv6_networks_cannot_grow_the_tracking_past_its_bound_and_old_entries_expire() {
        int sprayed = InProcessBans.MAX_SOURCES + 20_000;
        long t0 = System.nanoTime();
        for (int i = 0; i < sprayed; i++) {
            // a different /64 for each failure (addresses inside one /64 are one source already)
            guard.failed(String.format("2001:db8:%x:%x::1", i >>> 16, i & 0xffff));
            guard.succeeded(String.format("2001:db8:%x:%x::1", i >>> 16, i & 0xffff), "s:" + i);
        }
        assertThat(guard.trackedSources()).isEqualTo(InProcessBans.MAX_SOURCES);
        assertThat(guard.knownGoodEntries()).isLessThanOrEqualTo(InProcessBans.MAX_KNOWN_GOOD);
        // no scan of the whole map per failure: 120,000 failures at a bounded map stay far below a second each batch
        assertThat(Duration.ofNanos(System.nanoTime() - t0)).isLessThan(Duration.ofSeconds(30));
        clock.advance(Duration.ofDays(2));
        guard.failed("198.51.100.20");
        assertThat(guard.trackedSources()).as("expired entries are dropped as the map is used").isEqualTo(1);
    }
}
