package dev.bulwark.bench;

/**
 * For each device, the instants ({@link System#nanoTime()}) of a sequence of events in the order they happened
 * (PUBACKs received, records consumed). One thread may append to a device's series while others read it.
 */
final class TimeLog {
    private final Series[] series;

    TimeLog(int devices) {
        series = new Series[devices];
        for (int i = 0; i < devices; i++) {
            series[i] = new Series();
        }
    }

    int devices() {
        return series.length;
    }

    void add(int device, long nanos) {
        series[device].add(nanos);
    }

    /** The instants of {@code device}'s events so far. */
    long[] get(int device) {
        return series[device].snapshot();
    }

    int size(int device) {
        return series[device].size();
    }

    private static final class Series {
        private long[] times = new long[64];
        private int size;

        synchronized void add(long t) {
            if (size == times.length) {
                times = java.util.Arrays.copyOf(times, size * 2);
            }
            times[size++] = t;
        }

        synchronized long[] snapshot() {
            return java.util.Arrays.copyOf(times, size);
        }

        synchronized int size() {
            return size;
        }
    }
}
