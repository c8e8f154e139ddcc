package dev.bulwark.bench;

import java.util.Arrays;

/** Durations measured in nanoseconds, sorted, and their percentiles. */
record Samples(long[] sortedNanos) {
    static Samples of(long[] nanos) {
        long[] s = nanos.clone();
        Arrays.sort(s);
        return new Samples(s);
    }

    int count() {
        return sortedNanos.length;
    }

    /** The {@code q} quantile (0..1) in milliseconds; 0 without samples. */
    double ms(double q) {
        if (sortedNanos.length == 0) {
            return 0;
        }
        int i = (int) Math.min(sortedNanos.length - 1, Math.floor(sortedNanos.length * q));
        return sortedNanos[i] / 1e6;
    }

    double p50Ms() {
        return ms(0.50);
    }

    double p99Ms() {
        return ms(0.99);
    }
}
