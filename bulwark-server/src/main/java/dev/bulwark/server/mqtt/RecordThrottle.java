package dev.bulwark.server.mqtt;

import dev.bulwark.server.core.Clock;
import dev.bulwark.server.monitor.SecurityEvent;
import java.util.Map;
import java.util.concurrent.ConcurrentHashMap;
import java.util.function.Consumer;

/**
 * Records refusals that an outsider can repeat at will (malformed packets, connections that send nothing)
 * at most once per interval per source and kind, with the count of those it did not record one by one, so
 * that an attack cannot turn into a flood of security events. The first occurrence is recorded at once;
 * the ones that follow within the interval are counted and recorded together with the next occurrence
 * after it, or by {@link #flush()} (called periodically) if none comes.
 */
final class RecordThrottle {
    static final long INTERVAL_MS = 10_000;
    private static final int MAX_KEYS = 100_000;

    private final Clock clock;
    private final Consumer<SecurityEvent> sink;
    private final Map<String, State> states = new ConcurrentHashMap<>();

    private static final class State {
        long lastRecordMs;
        long pending;
        SecurityEvent last;
    }

    RecordThrottle(Clock clock, Consumer<SecurityEvent> sink) {
        this.clock = clock;
        this.sink = sink;
    }

    /**
     * Records {@code e} unless one of its kind (source address, type, start of the reason) was recorded less
     * than an interval ago.
     */
    void record(SecurityEvent e) {
        String reason = e.reason() == null ? "" : e.reason();
        String key = e.sourceAddress() + "|" + e.type() + "|" + (reason.length() > 40 ? reason.substring(0, 40) : reason);
        long now = clock.nowMs();
        if (states.size() > MAX_KEYS) {
            flush();
            if (states.size() > MAX_KEYS) {
                states.clear();
            }
        }
        State s = states.computeIfAbsent(key, k -> {
            State fresh = new State();
            fresh.lastRecordMs = Long.MIN_VALUE / 2;
            return fresh;
        });
        long count;
        synchronized (s) {
            s.pending++;
            s.last = e;
            if (now - s.lastRecordMs < INTERVAL_MS) {
                return;
            }
            count = s.pending;
            s.pending = 0;
            s.lastRecordMs = now;
        }
        sink.accept(counted(e, count));
    }

    /** Records the counts still pending for kinds whose interval has passed, and forgets idle kinds. */
    void flush() {
        long now = clock.nowMs();
        states.entrySet().removeIf(entry -> {
            State s = entry.getValue();
            SecurityEvent e;
            long count;
            synchronized (s) {
                if (now - s.lastRecordMs < INTERVAL_MS) {
                    return false;
                }
                if (s.pending == 0) {
                    return true;
                }
                e = s.last;
                count = s.pending;
                s.pending = 0;
                s.lastRecordMs = now;
            }
            sink.accept(counted(e, count));
            return false;
        });
    }

    private static SecurityEvent counted(SecurityEvent e, long count) {
        String c = "count: " + count + (count > 1 ? " (from this source since the last record of this kind)" : "");
        return new SecurityEvent(e.timeMs(), e.tenantId(), e.type(), e.reason(), e.identity(), e.sourceAddress(), e.sourcePort(),
                e.channel(), e.detail() == null ? c : e.detail() + "; " + c);
    }
}
