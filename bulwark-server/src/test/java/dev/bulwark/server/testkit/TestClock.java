package dev.bulwark.server.testkit;

import dev.bulwark.server.core.Clock;
import java.time.Duration;
import java.util.concurrent.atomic.AtomicLong;

/** The wall clock plus an offset that a test can move forward (to expire certificates and tokens). */
public final class TestClock implements Clock {
    private final AtomicLong offset = new AtomicLong();

    @Override
    public long nowMs() {
        return System.currentTimeMillis() + offset.get();
    }

    public void advance(Duration d) {
        offset.addAndGet(d.toMillis());
    }
}
