package dev.bulwark.server.monitor;

import java.util.ArrayDeque;
import java.util.Collection;
import java.util.Collections;
import java.util.Deque;
import java.util.HashMap;
import java.util.LinkedHashSet;
import java.util.Map;
import java.util.Set;
import java.util.function.ToLongFunction;

/**
 * The detector's state in this node's memory: every map is a {@link BoundedMap} (a size bound and the expiry of
 * entries older than the window, without a scan of the whole map on a failure). Not thread-safe on its own: the
 * {@link Detector} calls it under its lock.
 */
public final class InProcessDetectorState implements DetectorState {
    private static final int MAX_PER_WINDOW = 1_000;

    private final long windowMs;
    private final BoundedMap<String, Deque<Failure>> byIdentity;
    private final BoundedMap<String, Deque<Failure>> bySource;
    private final BoundedMap<String, Deque<Mark>> takeovers;
    private final BoundedMap<String, Deque<Mark>> violations;
    private final BoundedMap<String, Mark> lastConnect;
    private final BoundedMap<String, Alert> open;
    private final Map<String, Set<String>> retrying = new HashMap<>();

    public InProcessDetectorState(long windowMs) {
        this.windowMs = windowMs;
        this.byIdentity = new BoundedMap<>(Detector.MAX_KEYS, windowMs, InProcessDetectorState::lastFailure);
        this.bySource = new BoundedMap<>(Detector.MAX_KEYS, windowMs, InProcessDetectorState::lastFailure);
        this.takeovers = new BoundedMap<>(Detector.MAX_KEYS, windowMs, InProcessDetectorState::lastMark);
        this.violations = new BoundedMap<>(Detector.MAX_KEYS, windowMs, InProcessDetectorState::lastMark);
        this.lastConnect = new BoundedMap<>(500_000, windowMs, Mark::timeMs);
        this.open = new BoundedMap<>(Detector.MAX_KEYS, windowMs, Alert::timeMs);
    }

    private static long lastFailure(Deque<Failure> q) {
        return q.isEmpty() ? Long.MIN_VALUE : q.peekLast().timeMs();
    }

    private static long lastMark(Deque<Mark> q) {
        return q.isEmpty() ? Long.MIN_VALUE : q.peekLast().timeMs();
    }

    @Override
    public Collection<Failure> identityFailure(String identity, Failure f) {
        return push(byIdentity, identity, f, Failure::timeMs, f.timeMs());
    }

    @Override
    public Collection<Failure> sourceFailure(String source, Failure f) {
        return push(bySource, source, f, Failure::timeMs, f.timeMs());
    }

    @Override
    public Collection<Mark> takeover(String identity, Mark m) {
        return push(takeovers, identity, m, Mark::timeMs, m.timeMs());
    }

    @Override
    public Collection<Mark> violation(String identity, Mark m) {
        return push(violations, identity, m, Mark::timeMs, m.timeMs());
    }

    @Override
    public Mark connected(String identity, Mark m) {
        Mark previous = lastConnect.put(identity, m, m.timeMs());
        return previous != null && m.timeMs() - previous.timeMs() <= windowMs ? previous : null;
    }

    @Override
    public Alert openAlert(String key, long nowMs) {
        return open.get(key, nowMs);
    }

    @Override
    public void opened(String key, Alert alert, long nowMs) {
        open.put(key, alert, nowMs);
    }

    @Override
    public Set<String> retrying(String tenant, String identity, boolean restart) {
        Set<String> ids = retrying.computeIfAbsent(tenant, t -> new LinkedHashSet<>());
        if (restart) {
            ids.clear();
        }
        ids.add(identity);
        return Collections.unmodifiableSet(ids);
    }

    @Override
    public int tracked() {
        return byIdentity.size() + bySource.size();
    }

    private <T> Collection<T> push(BoundedMap<String, Deque<T>> map, String key, T item, ToLongFunction<T> time, long now) {
        Deque<T> q = map.computeIfAbsent(key, k -> new ArrayDeque<>(), now);
        q.addLast(item);
        long from = now - windowMs;
        while (!q.isEmpty() && time.applyAsLong(q.peekFirst()) < from) {
            q.pollFirst();
        }
        if (q.size() > MAX_PER_WINDOW) {
            q.pollFirst();
        }
        return Collections.unmodifiableCollection(q);
    }
}
