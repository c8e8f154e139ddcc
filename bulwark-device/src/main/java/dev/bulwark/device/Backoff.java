package dev.bulwark.device;

import java.time.Duration;
import java.util.concurrent.ThreadLocalRandom;

/**
 * Reconnect delays: exponential growth with <em>full jitter</em>. Attempt {@code n} (from 0) waits a
 * uniformly random time in {@code [0, min(cap, base · 2^n)]}.
 *
 * <p>Why full jitter: after a network outage a whole fleet loses its connections at the same moment. With
 * fixed or merely exponential delays the devices come back in synchronized waves that look, and act, like a
 * flood; spreading each wave over its whole window keeps the reconnect rate near {@code fleet / window}. The
 * shape stays recognizable as a retry to the server's detector: one valid identity, gaps that grow and then
 * stay under the cap.
 */
public final class Backoff {
    private final long baseMs;
    private final long capMs;

    public Backoff(Duration base, Duration cap) {
        if (base.isNegative() || base.isZero() || cap.compareTo(base) < 0) {
            throw new IllegalArgumentException("backoff needs 0 < base <= cap");
        }
        this.baseMs = base.toMillis();
        this.capMs = cap.toMillis();
    }

    /** The default: 1 s base, 2 min cap. */
    public static Backoff standard() {
        return new Backoff(Duration.ofSeconds(1), Duration.ofMinutes(2));
    }

    /** The upper bound of the wait before attempt {@code attempt}: {@code min(cap, base · 2^attempt)}. */
    public long ceilingMs(int attempt) {
        if (attempt >= 62 || baseMs << Math.max(0, attempt) <= 0) {
            return capMs;
        }
        return Math.min(capMs, baseMs << Math.max(0, attempt));
    }

    /** A random wait before attempt {@code attempt}, uniform in {@code [0, ceilingMs(attempt)]}. */
    public long delayMs(int attempt) {
        return ThreadLocalRandom.current().nextLong(ceilingMs(attempt) + 1);
    }

    public long capMs() {
        return capMs;
    }
}
