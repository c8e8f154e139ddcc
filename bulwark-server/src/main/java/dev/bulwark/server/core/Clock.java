package dev.bulwark.server.core;

/** Wall-clock time in epoch milliseconds; one seam so tests can move time. */
@FunctionalInterface
public interface Clock {
    long nowMs();

    Clock SYSTEM = System::currentTimeMillis;
}
