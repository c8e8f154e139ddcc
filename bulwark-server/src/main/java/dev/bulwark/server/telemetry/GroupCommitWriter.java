package dev.bulwark.server.telemetry;

import dev.bulwark.server.store.Database;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.ArrayBlockingQueue;
import java.util.concurrent.BlockingQueue;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicLong;
import java.util.function.Consumer;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Durable device messages without a database round trip per message: submitted messages are queued, and
 * one writer thread commits everything that queued up while the previous batch was being written, as one
 * block appended to the telemetry log ({@link TelemetryStore}) in one transaction. Only after the commit does
 * each message's callback run, so a QoS 1 PUBACK or an HTTP 2xx sent from it acknowledges data that is on disk.
 *
 * <p>Back-pressure: the queue is bounded in messages and in bytes (what is queued plus the batch being
 * committed: 100,000 messages of 64 KiB would otherwise be 6.5 GB of heap); {@link #submit} returns false
 * when either bound is reached, and the caller refuses or slows the sender instead of acknowledging
 * something that is not stored.
 *
 * <p>Async contract: callbacks run on the writer thread; they must be quick and must not block (hand
 * work back to an event loop).
 */
public final class GroupCommitWriter implements AutoCloseable {
    private static final Logger LOG = LoggerFactory.getLogger(GroupCommitWriter.class);

    /** What to do once a message is committed, or once its batch failed. */
    public interface Completion {
        void committed();

        void failed(Throwable cause);

        /**
         * Where {@link #committed()} runs: null for the writer thread (it must then be quick and hand work back
         * itself), or the executor of the event loop that owns the message; completions sharing an executor
         * are run in one task of it.
         */
        default java.util.concurrent.Executor executor() {
            return null;
        }
    }

    /**
     * Sees every committed batch, after its commit (northbound publishing): called on the writer thread once the
     * batch's acknowledgements are on their way, so it must only hand the batch on (queue it) and never block.
     * {@code plaintext.get(i)} is the payload of {@code batch.messages().get(i)} in clear.
     */
    public interface AfterCommit {
        AfterCommit NONE = (batch, plaintext) -> { };

        void committed(MessageLog.Batch batch, List<byte[]> plaintext);
    }

    /** A queued message; {@code keyId} and {@code sealed} are set when it was sealed before it was queued. */
    private record Pending(DeviceMessage message, Completion completion, String keyId, byte[] sealed) {
    }

    private final Database db;
    private final TelemetryStore store;
    private final MessageLog log;
    private final BlockingQueue<Pending> queue;
    private final int maxBatch;
    private final long maxBytes;
    private final AtomicLong heldBytes = new AtomicLong();
    private final AtomicLong refusedFull = new AtomicLong();
    private final Thread thread;
    private final AtomicLong committed = new AtomicLong();
    private final AtomicLong batches = new AtomicLong();
    private final AtomicLong commitNanos = new AtomicLong();
    private final AtomicLong failedBatches = new AtomicLong();
    private final AtomicLong failedMessages = new AtomicLong();
    private volatile boolean stalled;
    private volatile boolean running = true;
    private volatile java.util.function.LongConsumer batchTimer = n -> { };

    /** Receives the duration (ns) of each committed batch, e.g. for a metric. */
    public void onBatch(java.util.function.LongConsumer timer) {
        this.batchTimer = timer;
    }

    private final dev.bulwark.server.ownership.Ownership ownership;
    private final AfterCommit afterCommit;

    /**
     * @param ownership when not null, every payload is sealed (AES-256-GCM) under the data key of the device's
     *                  current ownership period, in the batch's transaction
     */
    public GroupCommitWriter(Database db, TelemetryStore store, int capacity, int maxBatch,
                             dev.bulwark.server.ownership.Ownership ownership) {
        this(db, store, capacity, DEFAULT_MAX_BYTES, maxBatch, ownership);
    }

    /** What the writer holds at most, queued and in the batch being committed: 64 MiB. */
    public static final long DEFAULT_MAX_BYTES = 64L << 20;

    /** Bytes a message costs the writer beyond its payload (record, strings, callback). */
    static final int OVERHEAD_BYTES = 256;

    /**
     * @param capacity at most this many messages queued
     * @param maxBytes at most this many bytes (payloads plus {@value #OVERHEAD_BYTES} each) queued and in commit
     */
    public GroupCommitWriter(Database db, TelemetryStore store, int capacity, long maxBytes, int maxBatch,
                             dev.bulwark.server.ownership.Ownership ownership) {
        this(db, store, capacity, maxBytes, maxBatch, ownership, AfterCommit.NONE);
    }

    /** @param afterCommit sees each committed batch (see {@link AfterCommit}) */
    public GroupCommitWriter(Database db, TelemetryStore store, int capacity, long maxBytes, int maxBatch,
                             dev.bulwark.server.ownership.Ownership ownership, AfterCommit afterCommit) {
        this.afterCommit = java.util.Objects.requireNonNull(afterCommit, "afterCommit");
        this.maxBytes = maxBytes;
        this.db = db;
        this.store = store;
        this.log = store.log();
        this.ownership = ownership;
        this.queue = new ArrayBlockingQueue<>(capacity);
        this.maxBatch = maxBatch;
        this.thread = new Thread(this::run, "bulwark-group-commit");
        this.thread.setDaemon(true);
        this.thread.start();
    }

    /** Queues a message; false when the writer is saturated or closed (nothing was queued). */
    public boolean submit(DeviceMessage message, Completion completion) {
        if (!running) {
            return false;
        }
        long cost = cost(message);
        if (heldBytes.addAndGet(cost) > maxBytes) {
            heldBytes.addAndGet(-cost);
            refusedFull.incrementAndGet();
            return false;
        }
        if (!offer(message, completion)) {
            heldBytes.addAndGet(-cost);
            refusedFull.incrementAndGet();
            return false;
        }
        return true;
    }

    private static long cost(DeviceMessage m) {
        return (long) m.payload().length + OVERHEAD_BYTES;
    }

    private boolean offer(DeviceMessage message, Completion completion) {
        // Sealing happens here, on the caller's thread (the device's event loop), when the device's period is
        // known: the encryption cost spreads over the event loops instead of queueing on the one writer thread.
        if (ownership != null) {
            var period = ownership.cached(message.tenantId(), message.deviceId());
            if (period != null) {
                byte[] sealed = ownership.keys().seal(period.keyId(), message.payload(),
                        dev.bulwark.server.ownership.Ownership.aad(message.tenantId(), message.deviceId(), message.kind()));
                return queue.offer(new Pending(message, completion, period.keyId(), sealed));
            }
        }
        return queue.offer(new Pending(message, completion, null, null));
    }

    /** Bytes held now (queued and in the batch being committed). */
    public long heldBytes() {
        return heldBytes.get();
    }

    /** Submissions refused because a bound was reached (the sender was slowed down or refused). */
    public long refusedFull() {
        return refusedFull.get();
    }

    public long committedMessages() {
        return committed.get();
    }

    public long batches() {
        return batches.get();
    }

    /** Batches whose commit failed (the database unreachable, a failed transaction): none of their messages was acknowledged. */
    public long failedBatches() {
        return failedBatches.get();
    }

    /** Messages of the batches that failed: refused to their senders, which send them again. */
    public long failedMessages() {
        return failedMessages.get();
    }

    /**
     * True from a failed commit until the next one succeeds: acknowledgements are paused (every message the writer
     * gets is refused, not acknowledged) until the database takes commits again.
     */
    public boolean stalled() {
        return stalled;
    }

    /** Total time spent committing, in nanoseconds. */
    public long commitNanos() {
        return commitNanos.get();
    }

    private void run() {
        List<Pending> batch = new ArrayList<>(maxBatch);
        while (running || !queue.isEmpty()) {
            try {
                Pending first = queue.poll(100, TimeUnit.MILLISECONDS);
                if (first == null) {
                    continue;
                }
                batch.add(first);
                queue.drainTo(batch, maxBatch - 1);
                commit(batch);
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
                break;
            } finally {
                long released = 0;
                for (Pending p : batch) {
                    released += cost(p.message());
                }
                heldBytes.addAndGet(-released);
                batch.clear();
            }
        }
    }

    private void commit(List<Pending> batch) {
        long t0 = System.nanoTime();
        MessageLog.Batch logged;
        try {
            List<StoredMessage> drafts = new ArrayList<>(batch.size());
            List<Integer> unsealed = null;
            for (int i = 0; i < batch.size(); i++) {
                Pending p = batch.get(i);
                DeviceMessage m = p.message();
                if (p.keyId() == null && ownership != null) {
                    (unsealed == null ? unsealed = new ArrayList<>() : unsealed).add(i);
                }
                drafts.add(new StoredMessage(m.tenantId(), m.deviceId(), m.kind(), 0, m.receivedMs(), m.qos(), m.channel(), m.source(),
                        m.connection(), p.keyId(), p.keyId() != null ? p.sealed() : m.payload()));
            }
            if (unsealed != null) {
                // devices whose period was not cached yet (their first messages since start): look it up, then seal
                List<Integer> todo = unsealed;
                db.tx(h -> {
                    for (int i : todo) {
                        StoredMessage d = drafts.get(i);
                        var period = ownership.current(h, d.tenantId(), d.deviceId(), d.receivedMs());
                        drafts.set(i, new StoredMessage(d.tenantId(), d.deviceId(), d.kind(), 0, d.receivedMs(), d.qos(), d.channel(),
                                d.source(), d.connection(), period.keyId(), ownership.keys().seal(period.keyId(), d.payload(),
                                dev.bulwark.server.ownership.Ownership.aad(d.tenantId(), d.deviceId(), d.kind()))));
                    }
                    return null;
                });
            }
            logged = log.append(drafts);
        } catch (Exception e) {
            if (!stalled) {
                LOG.error("cannot commit a batch of {} device messages: {}", batch.size(), e.toString());
            } else {
                LOG.debug("cannot commit a batch of {} device messages: {}", batch.size(), e.toString());
            }
            stalled = true;
            failedBatches.incrementAndGet();
            failedMessages.addAndGet(batch.size());
            if (ownership != null) {
                each(batch, p -> ownership.forget(p.message().tenantId(), p.message().deviceId())); // periods opened in it were rolled back
            }
            each(batch, p -> p.completion().failed(e));
            return;
        }
        long took = System.nanoTime() - t0;
        if (stalled) {
            stalled = false;
            LOG.info("device messages are committed again ({} failed batches since start)", failedBatches.get());
        }
        commitNanos.addAndGet(took);
        batchTimer.accept(took);
        batches.incrementAndGet();
        committed.addAndGet(batch.size());
        store.committed(logged); // before any acknowledgement: a read after one finds the message
        // acknowledgements go out grouped by the event loop that owns them: one task per loop, not one per message
        java.util.Map<java.util.concurrent.Executor, List<Completion>> byLoop = new java.util.IdentityHashMap<>();
        for (Pending p : batch) {
            java.util.concurrent.Executor ex = p.completion().executor();
            if (ex == null) {
                each(List.of(p), q -> q.completion().committed());
            } else {
                byLoop.computeIfAbsent(ex, k -> new ArrayList<>()).add(p.completion());
            }
        }
        byLoop.forEach((ex, completions) -> ex.execute(() -> {
            for (Completion c : completions) {
                try {
                    c.committed();
                } catch (RuntimeException e) {
                    LOG.warn("device message callback failed: {}", e.toString());
                }
            }
        }));
        if (afterCommit != AfterCommit.NONE) {
            List<byte[]> plaintext = new ArrayList<>(batch.size());
            for (Pending p : batch) {
                plaintext.add(p.message().payload());
            }
            try {
                afterCommit.committed(logged, plaintext);
            } catch (RuntimeException e) {
                LOG.warn("after-commit hand-off failed: {}", e.toString());
            }
        }
    }

    private static void each(List<Pending> batch, Consumer<Pending> action) {
        for (Pending p : batch) {
            try {
                action.accept(p);
            } catch (RuntimeException e) {
                LOG.warn("device message callback failed: {}", e.toString());
            }
        }
    }

    /** Stops accepting, commits what is queued, and returns. */
    @Override
    public void close() {
        running = false;
        try {
            thread.join(15_000);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        }
    }
}
