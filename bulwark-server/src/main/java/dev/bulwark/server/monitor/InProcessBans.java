package dev.bulwark.server.monitor;

import dev.bulwark.server.config.DetectionSettings;
import dev.bulwark.server.core.Clock;
import dev.bulwark.server.crypto.Secrets;
import java.util.ArrayDeque;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.Deque;
import java.util.List;
import java.util.Optional;
import java.util.Set;
import java.util.TreeSet;
import java.util.concurrent.atomic.AtomicLong;
import java.util.function.IntFunction;

/**
 * The {@link SourceGuard} of one node: bans, tarpit queues and known-good credentials in memory.
 *
 * <p>Memory: every map here is a {@link BoundedMap} (size bound, expiry of the least recently used entries,
 * no scan of the whole map on a failure), so a source spraying addresses cannot grow them without limit.
 */
public final class InProcessBans implements SourceGuard {
    static final int MAX_SOURCES = 100_000;
    static final int MAX_KNOWN_GOOD = 200_000;
    static final long KNOWN_GOOD_TTL_MS = 30L * 86_400_000L;
    private static final int MAX_FAILURES_KEPT = 64;

    private static final class Source {
        final Deque<Long> failures = new ArrayDeque<>();
        long releaseMs;
        volatile long lastMs; // read by the map's expiry without this guard's lock
        int strikes;
        long strikeMs;
    }

    private final Clock clock;
    private final DetectionSettings settings;
    private final BoundedMap<String, Ban> bans;
    private final BoundedMap<String, Source> sources;
    private final BoundedMap<String, Long> knownGood = new BoundedMap<>(MAX_KNOWN_GOOD, KNOWN_GOOD_TTL_MS, t -> t);
    private final long strikeMemoryMs;
    private final AtomicLong bansIssued = new AtomicLong();
    private final AtomicLong refusedWhileBanned = new AtomicLong();

    public InProcessBans(Clock clock, DetectionSettings settings) {
        this.clock = clock;
        this.settings = settings;
        this.bans = new BoundedMap<>(MAX_SOURCES, 0, Ban::untilMs);
        // a source's state is kept while it can matter: its failures (the window), its queued refusals, its strikes
        this.strikeMemoryMs = Math.max(settings.window().toMillis(), settings.banMax().toMillis() * 24);
        this.sources = new BoundedMap<>(MAX_SOURCES, strikeMemoryMs, s -> s.lastMs);
    }

    @Override
    public long backlogMs() {
        return settings.tarpitMax().toMillis() * 8;
    }

    @Override
    public Optional<Ban> banned(String address) {
        address = SourceGuard.sourceKey(address);
        if (address == null) {
            return Optional.empty();
        }
        long now = clock.nowMs();
        Ban b = bans.get(address, now);
        if (b == null) {
            return Optional.empty();
        }
        if (b.untilMs() <= now) {
            bans.remove(address, b);
            return Optional.empty();
        }
        return Optional.of(b);
    }

    @Override
    public Optional<Ban> refuse(String address, String credential) {
        address = SourceGuard.sourceKey(address);
        if (address == null) {
            return Optional.empty();
        }
        long now = clock.nowMs();
        Optional<Ban> b = banned(address);
        if (b.isEmpty()) {
            Source s = sources.get(address, now);
            long waiting;
            synchronized (this) {
                waiting = s == null ? 0 : s.releaseMs - now;
            }
            if (waiting >= backlogMs() - settings.tarpitMax().toMillis() && waiting > 0) {
                b = Optional.of(new Ban("tarpit", address, now, now + waiting, "tarpit", "the source has " + waiting
                        + " ms of refusals waiting in the tarpit", Set.of(PLATFORM), null, 0));
            }
        }
        if (b.isPresent() && credential != null && knownGood.get(address + "|" + credential, now) != null) {
            return Optional.empty();
        }
        b.ifPresent(x -> refusedWhileBanned.incrementAndGet());
        return b;
    }

    @Override
    public void succeeded(String address, String credential) {
        address = SourceGuard.sourceKey(address);
        if (address != null && credential != null) {
            long now = clock.nowMs();
            knownGood.put(address + "|" + credential, now, now);
        }
    }

    @Override
    public long failed(String address) {
        address = SourceGuard.sourceKey(address);
        if (address == null) {
            return 0;
        }
        long now = clock.nowMs();
        Source s = sources.computeIfAbsent(address, a -> new Source(), now);
        synchronized (this) {
            s.lastMs = now;
            s.failures.addLast(now);
            while (!s.failures.isEmpty() && (s.failures.peekFirst() < now - settings.window().toMillis()
                    || s.failures.size() > MAX_FAILURES_KEPT)) {
                s.failures.pollFirst();
            }
            int over = s.failures.size() - settings.tarpitFreeFailures();
            if (over <= 0) {
                return 0;
            }
            long delay = Math.min(250L << Math.min(over - 1, 20), settings.tarpitMax().toMillis());
            long release = Math.min(Math.max(now, s.releaseMs) + delay, now + backlogMs());
            s.releaseMs = release;
            return release - now;
        }
    }

    @Override
    public Ban ban(String address, String label, String reason, String tenantId, String alertId) {
        return ban(address, label, reason, tenantId, alertId, strike -> "ban-" + Secrets.randomHex(8));
    }

    /**
     * {@link #ban}, the id of a new ban given by {@code newId} from its strike (a cluster derives it from the alert,
     * so that nodes banning a source for one alert at once issue one ban).
     */
    public Ban ban(String address, String label, String reason, String tenantId, String alertId, IntFunction<String> newId) {
        address = SourceGuard.sourceKey(address);
        long now = clock.nowMs();
        String scope = tenantId == null ? PLATFORM : tenantId;
        Optional<Ban> current = banned(address);
        if (current.isPresent()) {
            Ban c = current.get();
            if (c.scopes().contains(scope)) {
                return c;
            }
            Set<String> scopes = new TreeSet<>(c.scopes());
            scopes.add(scope);
            Ban widened = new Ban(c.id(), c.address(), c.sinceMs(), c.untilMs(), c.label(), c.reason(), scopes, c.alertId(), c.strike());
            bans.put(address, widened, now);
            return widened;
        }
        Source s = sources.computeIfAbsent(address, a -> new Source(), now);
        int strike;
        synchronized (this) {
            if (now - s.strikeMs > strikeMemoryMs) {
                s.strikes = 0; // a source quiet for long starts again at the first ban
            }
            strike = ++s.strikes;
            s.strikeMs = now;
            s.lastMs = now;
        }
        long duration = Math.min(settings.banMax().toMillis(), settings.banBase().toMillis() << Math.min(strike - 1, 20));
        Ban b = new Ban(newId.apply(strike), address, now, now + duration, label, reason, Set.of(scope), alertId, strike);
        bans.put(address, b, now);
        bansIssued.incrementAndGet();
        return b;
    }

    /**
     * Enforces a ban issued elsewhere (by another node of a cluster), merged with the source's active ban: the
     * later ban's id, label and reason, both bans' scopes, the later end; the strike counts for the source's
     * next ban. Returns the ban now active, or empty when {@code b} has ended.
     */
    public Optional<Ban> apply(Ban b) {
        String address = SourceGuard.sourceKey(b.address());
        long now = clock.nowMs();
        if (address == null || b.untilMs() <= now) {
            return Optional.empty();
        }
        Ban merged = b;
        Optional<Ban> current = banned(address);
        if (current.isPresent()) {
            Ban c = current.get();
            Set<String> scopes = new TreeSet<>(c.scopes());
            scopes.addAll(b.scopes());
            merged = new Ban(b.id(), address, Math.min(b.sinceMs(), c.id().equals(b.id()) ? c.sinceMs() : b.sinceMs()),
                    Math.max(b.untilMs(), c.untilMs()), b.label(), b.reason(), scopes, b.alertId(), Math.max(b.strike(), c.strike()));
        }
        bans.put(address, merged, now);
        Source s = sources.computeIfAbsent(address, a -> new Source(), now);
        synchronized (this) {
            if (b.strike() >= s.strikes) {
                s.strikes = b.strike();
                s.strikeMs = Math.max(s.strikeMs, b.sinceMs());
            }
            s.lastMs = now;
        }
        return Optional.of(merged);
    }

    @Override
    public Optional<Ban> lift(String id) {
        for (Ban b : bans.values(clock.nowMs())) {
            if (b.id().equals(id) && bans.remove(b.address(), b)) {
                return Optional.of(b);
            }
        }
        return Optional.empty();
    }

    @Override
    public List<Ban> active() {
        long now = clock.nowMs();
        List<Ban> out = new ArrayList<>();
        for (Ban b : bans.values(now)) {
            if (b.untilMs() > now) {
                out.add(b);
            }
        }
        out.sort(Comparator.comparingLong(Ban::sinceMs).reversed());
        return out;
    }

    /** How many sources are tracked now (bounded by {@link #MAX_SOURCES}). */
    int trackedSources() {
        return sources.size();
    }

    int knownGoodEntries() {
        return knownGood.size();
    }

    @Override
    public long bansIssued() {
        return bansIssued.get();
    }

    @Override
    public long refusedWhileBanned() {
        return refusedWhileBanned.get();
    }
}
