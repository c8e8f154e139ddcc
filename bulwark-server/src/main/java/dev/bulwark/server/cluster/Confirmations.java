package dev.bulwark.server.cluster;

import java.util.ArrayDeque;

/**
 * Which of this node's telemetry log rows Kafka has confirmed, in the order they were committed: the watermark is
 * the last row up to which every row's records are confirmed (rows of one node are numbered in commit order). A
 * failure stops the watermark until {@link #reset()}; callbacks of records sent before a reset are ignored.
 * Thread-safe: rows are added by the publisher thread, records confirmed on the producer's.
 */
final class Confirmations {
    /** The records of one log row that are still unconfirmed. */
    static final class Row {
        private final long row;
        private final long committedNanos;
        private final long generation;
        private int remaining;

        private Row(long row, long committedNanos, long generation, int records) {
            this.row = row;
            this.committedNanos = committedNanos;
            this.generation = generation;
            this.remaining = records;
        }
    }

    private final ArrayDeque<Row> rows = new ArrayDeque<>();
    private long watermark;
    private long generation;
    private Exception failure;
    private long lastLagNanos;

    /** Log row {@code row} (committed at {@code committedNanos}) goes out as {@code records} records. */
    synchronized Row add(long row, int records, long committedNanos) {
        Row r = new Row(row, committedNanos, generation, records);
        rows.addLast(r);
        advance();
        return r;
    }

    /** One record of {@code r} was confirmed ({@code error} null) or failed. */
    synchronized void done(Row r, Exception error) {
        if (r.generation != generation) {
            return;
        }
        if (error != null) {
            failure = failure == null ? error : failure;
            return;
        }
        r.remaining--;
        advance();
    }

    private void advance() {
        while (!rows.isEmpty() && rows.peekFirst().remaining <= 0) {
            Row r = rows.pollFirst();
            watermark = r.row;
            lastLagNanos = System.nanoTime() - r.committedNanos;
        }
    }

    synchronized boolean failed() {
        return failure != null;
    }

    /** The first failure since the last {@link #reset()}, or null. */
    synchronized Exception failure() {
        return failure;
    }

    /** Forgets the rows in flight (they are published again) and returns the watermark. */
    synchronized long reset() {
        generation++;
        rows.clear();
        failure = null;
        return watermark;
    }

    synchronized long watermark() {
        return watermark;
    }

    /** Rows sent and not yet confirmed. */
    synchronized int inFlight() {
        return rows.size();
    }

    /** Commit to confirmation of the last row confirmed, in ms. */
    synchronized long lastLagMs() {
        return lastLagNanos / 1_000_000;
    }
}
