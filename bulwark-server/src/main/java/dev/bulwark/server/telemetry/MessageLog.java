package dev.bulwark.server.telemetry;

import java.util.List;
import org.jdbi.v3.core.Handle;

/**
 * Where a group commit makes its batch durable before any of it is acknowledged: an append-only log that
 * the compactor later moves into per-device segments ({@link TelemetryStore}).
 *
 * <p>Two kinds: {@link FileLog} (the embedded database's node: a file in the data directory, written and
 * synced once per batch) and {@link DatabaseLog} (an external database: one row per batch in
 * {@code telemetry_log}, so that every node's acknowledged messages are in the shared database).
 */
public interface MessageLog extends AutoCloseable {
    /**
     * A batch as the log holds it: its messages with their sequence numbers, where it is in the log, and about
     * how much memory it holds while it waits for the compactor.
     */
    record Batch(List<StoredMessage> messages, long[] refs, long bytes) {
        public Batch(List<StoredMessage> messages, long[] refs) {
            this(messages, refs, messages.stream().mapToLong(m -> m.payload().length + 64L).sum());
        }

        long lastSeq() {
            return messages.get(messages.size() - 1).seq();
        }
    }

    /**
     * Appends {@code drafts} (sequence numbers not yet assigned) durably; on return the batch survives a crash of
     * the process (and, where the log syncs, of the machine). Called by the group-commit writer thread only.
     */
    Batch append(List<StoredMessage> drafts) throws Exception;

    /**
     * Marks {@code batches} as moved into segments, in the compactor's transaction {@code h}.
     *
     * @throws ConcurrentCompaction when another node moved some of them first (the transaction must roll back)
     */
    void release(Handle h, List<Batch> batches);

    /** After the release's transaction committed: drop what is no longer needed. */
    void afterRelease();

    /** What the log holds that is not in segments yet (at start, before anything is appended). */
    List<Batch> recover(Handle h);

    /**
     * Where the log is shared by the nodes of a cluster: the batches it holds other than {@code known} (which other
     * nodes appended and have not moved into segments yet); empty for a log only this node writes.
     */
    default List<Batch> others(Handle h, java.util.Set<Long> known) {
        return List.of();
    }

    /** Of {@code batches}, those still in the log after a {@link ConcurrentCompaction}. */
    default List<Batch> stillPending(Handle h, List<Batch> batches) {
        return batches;
    }

    /** Another node's compactor moved rows this one was about to move. */
    final class ConcurrentCompaction extends RuntimeException {
        public ConcurrentCompaction() {
            super("log rows were compacted concurrently", null, false, false);
        }
    }

    @Override
    void close();
}
