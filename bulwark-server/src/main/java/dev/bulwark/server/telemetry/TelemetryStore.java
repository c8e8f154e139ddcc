package dev.bulwark.server.telemetry;

import dev.bulwark.server.crypto.DataKeys;
import dev.bulwark.server.store.Database;
import java.sql.Connection;
import java.sql.SQLException;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.Executors;
import java.util.concurrent.ScheduledExecutorService;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicLong;
import java.util.function.Consumer;
import org.jdbi.v3.core.Handle;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Where device messages live: an append-only log and per-device segments.
 *
 * <p>The ingest path only appends: each group commit appends one block of all the batch's messages, any
 * devices, to the {@link MessageLog} and commits; nothing indexed per device is touched, so a commit costs about
 * the same whether it carries the messages of one device or of thousands. A compactor then moves the log, about
 * once a second, into {@link SegmentStore} ({@code telemetry_segments}): one row per device, kind and data key
 * holding all the messages that arrived in that interval, indexed by device and by age. The move is one
 * transaction (segments inserted, log released), so a message is in exactly one of the two at any moment, also
 * across a crash.
 *
 * <p>Reads see every acknowledged message: they first compact what the log holds ({@link #flush}), then read
 * segments only. A message's {@code seq} is assigned by the log, so it increases in commit order and serves as
 * the pagination cursor.
 */
public final class TelemetryStore implements AutoCloseable {
    private static final Logger LOG = LoggerFactory.getLogger(TelemetryStore.class);

    /**
     * One compaction transaction moves up to this many messages or bytes: about a second of heavy ingest, so that
     * a device's segment gathers everything it sent in that second (fewer, fuller segments), with bounded memory.
     */
    private static final int CHUNK_MESSAGES = 200_000;
    private static final long CHUNK_BYTES = 32L << 20;
    /** Committed batches waiting for the compactor, at most this many payload bytes (then the writer waits). */
    private static final long PENDING_BYTES = 256L << 20;

    private final Database db;
    private final DataKeys keys;
    private final MessageLog log;
    private final SegmentStore segments;
    private final ScheduledExecutorService compactor;
    private final AtomicLong compacted = new AtomicLong();
    private final AtomicLong compactions = new AtomicLong();
    private final AtomicLong dropped = new AtomicLong();
    /** Batches committed to the log and not yet in segments, oldest first; guarded by {@code pendingLock}. */
    private final java.util.ArrayDeque<MessageLog.Batch> pending = new java.util.ArrayDeque<>();
    private final Object pendingLock = new Object();
    /** The log references (row ids) of the batches in {@code pending}; guarded by {@code pendingLock}. */
    private final java.util.Set<Long> pendingRefs = new java.util.HashSet<>();
    private long pendingBytes;

    /**
     * Recovers what the log holds beyond the segments (moving it into segments before returning), then starts the
     * compactor.
     *
     * @param keys data keys: to open payloads, and to recognize messages sealed under a key that was destroyed
     *             while they waited in the log (the compactor drops them: nothing could ever open them)
     */
    public TelemetryStore(Database db, DataKeys keys, MessageLog log, long compactEveryMs) {
        this.db = db;
        this.keys = keys;
        this.log = log;
        this.segments = new SegmentStore(keys);
        List<MessageLog.Batch> recovered = db.read(log::recover);
        if (!recovered.isEmpty()) {
            LOG.info("moving {} batches left in the telemetry log into segments", recovered.size());
        }
        synchronized (pendingLock) {
            recovered.forEach(b -> {
                pending.add(b);
                refs(b, true);
                pendingBytes += b.bytes();
            });
        }
        compact();
        this.compactor = Executors.newSingleThreadScheduledExecutor(r -> {
            Thread t = new Thread(r, "bulwark-compactor");
            t.setDaemon(true);
            return t;
        });
        compactor.scheduleWithFixedDelay(() -> {
            try {
                compact();
            } catch (RuntimeException e) {
                LOG.error("telemetry compaction failed, retrying: {}", e.toString());
            }
        }, compactEveryMs, compactEveryMs, TimeUnit.MILLISECONDS);
    }

    public MessageLog log() {
        return log;
    }

    // ---- the ingest path ----

    /**
     * Hands a batch the log has made durable to the compactor; called by the group-commit writer before it
     * acknowledges the batch, so that a read after an acknowledgement finds it. Waits while the compactor is far
     * behind (back-pressure reaches the devices through the writer's bounded queue).
     */
    public void committed(MessageLog.Batch batch) {
        long size = batch.bytes();
        synchronized (pendingLock) {
            while (pendingBytes > PENDING_BYTES && !pending.isEmpty()) {
                try {
                    pendingLock.wait(100);
                } catch (InterruptedException e) {
                    Thread.currentThread().interrupt();
                    break;
                }
            }
            if (pendingRefs.contains(batch.refs()[0])) {
                return; // a read on this node took it from the shared log already (see flush)
            }
            pending.add(batch);
            refs(batch, true);
            pendingBytes += size;
        }
    }

    /** Adds or removes {@code b}'s log references to or from {@code pendingRefs}; under {@code pendingLock}. */
    private void refs(MessageLog.Batch b, boolean add) {
        for (long r : b.refs()) {
            if (add) {
                pendingRefs.add(r);
            } else {
                pendingRefs.remove(r);
            }
        }
    }

    /**
     * Carries messages stored one row each ({@code device_messages}, schema versions before 11) into the
     * database log, in their order, as they are; returns how many. Used once, by the schema migration (the
     * embedded database's node recovers them from there too: it reads that table once, then uses its file log).
     */
    public static long moveLegacyRows(Connection c) throws SQLException {
        return DatabaseLog.moveLegacyRows(c);
    }

    // ---- compaction ----

    /**
     * Moves everything acknowledged so far into segments; returns when it is done. Where the log is shared by the
     * nodes of a cluster, that includes what the other nodes acknowledged and their compactors have not moved
     * yet: a read on any node finds a message as soon as it was acknowledged by any node (a compactor that finds
     * its rows moved by another node skips them, see {@link MessageLog.ConcurrentCompaction}).
     */
    public synchronized void flush() {
        java.util.Set<Long> known;
        synchronized (pendingLock) {
            known = new java.util.HashSet<>(pendingRefs);
        }
        List<MessageLog.Batch> others = db.read(h -> log.others(h, known));
        if (!others.isEmpty()) {
            synchronized (pendingLock) {
                List<MessageLog.Batch> all = new ArrayList<>(pending);
                for (MessageLog.Batch b : others) {
                    if (!pendingRefs.contains(b.refs()[0])) {
                        all.add(b);
                        refs(b, true);
                        pendingBytes += b.bytes();
                    }
                }
                all.sort(java.util.Comparator.comparingLong(b -> b.messages().get(0).seq())); // the segments stay in seq order
                pending.clear();
                pending.addAll(all);
            }
        }
        compact();
    }

    /**
     * The messages of log rows {@code rows} (references of batches appended to a {@link DatabaseLog}), wherever they
     * are now, log or segments, in seq order: what this node committed and a publisher must still hand on
     * (northbound, after a crash). Messages deleted since (owner deletion, retention) are not found.
     */
    public List<StoredMessage> written(Handle h, List<Long> rows) {
        if (rows.isEmpty() || !(log instanceof DatabaseLog dbLog)) {
            return List.of();
        }
        java.util.TreeMap<Long, StoredMessage> found = new java.util.TreeMap<>();
        // the log first, then the segments: a compaction committing in between moves a message into the segments,
        // read second, so it is found (maybe twice, kept once) and never missed
        dbLog.rows(h, rows).forEach(m -> found.put(m.seq(), m));
        java.util.Set<Long> wanted = new java.util.HashSet<>(rows);
        long lo = rows.stream().mapToLong(Long::longValue).min().orElseThrow() << 16;
        long hi = (rows.stream().mapToLong(Long::longValue).max().orElseThrow() << 16) | 0xFFFF;
        segments.inSeqRange(h, lo, hi, m -> {
            if (wanted.contains(m.seq() >>> 16)) {
                found.putIfAbsent(m.seq(), m);
            }
        });
        return new ArrayList<>(found.values());
    }

    /** Messages moved from the log to segments, and compactions run, since start. */
    public long compactedMessages() {
        return compacted.get();
    }

    public long compactions() {
        return compactions.get();
    }

    /** Messages the compactor found sealed under a destroyed key, and dropped. */
    public long droppedMessages() {
        return dropped.get();
    }

    /**
     * Moves the batches pending when it starts into segments, a chunk per transaction. Batches that arrive
     * meanwhile wait for the next run: chasing them would cut each device's messages into many small segments.
     */
    private synchronized void compact() {
        int left;
        synchronized (pendingLock) {
            left = pending.size();
        }
        while (left > 0) {
            List<MessageLog.Batch> chunk = new ArrayList<>();
            long messages = 0;
            long size = 0;
            synchronized (pendingLock) {
                while (!pending.isEmpty() && chunk.size() < left && messages < CHUNK_MESSAGES && size < CHUNK_BYTES) {
                    MessageLog.Batch b = pending.peekFirst();
                    chunk.add(b);
                    messages += b.messages().size();
                    size += b.bytes();
                    pending.pollFirst();
                    refs(b, false);
                }
            }
            if (chunk.isEmpty()) {
                return;
            }
            left -= chunk.size();
            long droppedNow;
            try {
                droppedNow = db.tx(h -> {
                    long d = segments.write(h, chunk);
                    log.release(h, chunk);
                    return d;
                });
            } catch (MessageLog.ConcurrentCompaction e) {
                // another node moved some of them first: what is still in the log is moved again, the rest is done
                List<MessageLog.Batch> again = db.read(h -> log.stillPending(h, chunk));
                requeue(again, size);
                left += again.size();
                continue;
            } catch (RuntimeException e) {
                requeue(chunk, size); // kept, in order, for the next attempt
                throw e;
            }
            dropped.addAndGet(droppedNow); // sealed under a destroyed key: unreadable for good, its owner gone
            synchronized (pendingLock) {
                pendingBytes -= size;
                pendingLock.notifyAll();
            }
            try {
                log.afterRelease();
            } catch (RuntimeException e) {
                LOG.warn("telemetry log clean-up after compaction failed, retried at the next one: {}", e.toString());
            }
            compacted.addAndGet(messages);
            compactions.incrementAndGet();
        }
    }

    private void requeue(List<MessageLog.Batch> chunk, long size) {
        synchronized (pendingLock) {
            pendingBytes -= size;
            for (int i = chunk.size() - 1; i >= 0; i--) {
                pending.addFirst(chunk.get(i));
                refs(chunk.get(i), true);
                pendingBytes += chunk.get(i).bytes();
            }
            pendingLock.notifyAll();
        }
    }

    // ---- reads and deletions (call flush() first to include what is still in the log) ----

    /** What to read: one device's messages, optionally of one kind and only under some keys, by seq and time. */
    public record Query(String tenant, String device, String kind, List<String> keyIds, long fromMs, long toMs, long afterSeq) {
    }

    /** The kinds of messages one device has under one key. */
    public List<String> kinds(Handle h, String tenant, String device, String keyId) {
        return segments.kinds(h, tenant, device, keyId);
    }

    /**
     * Up to {@code limit} messages matching {@code q}, in seq order. One kind at a time: segments of one device and
     * kind never overlap in seq, those of different kinds do, and the cursor must be exact.
     */
    public List<StoredMessage> page(Handle h, Query q, int limit) {
        return segments.page(h, q, limit);
    }

    /** The number of messages of one device stored under one key. */
    public long count(Handle h, String tenant, String device, String keyId) {
        return segments.count(h, tenant, device, keyId);
    }

    /** Deletes one device's messages stored under any of {@code keyIds}; returns how many. */
    public long deleteKeys(Handle h, String tenant, String device, List<String> keyIds) {
        return segments.deleteKeys(h, tenant, device, keyIds);
    }

    /** Deletes a tenant's messages received before {@code cutoffMs}; returns how many. */
    public long deleteOlderThan(Handle h, String tenant, long cutoffMs) {
        return segments.deleteOlderThan(h, tenant, cutoffMs);
    }

    /** A message's payload in clear; empty when it is sealed under a key that was destroyed. */
    public java.util.Optional<byte[]> open(StoredMessage m) {
        if (m.keyId() == null) {
            return java.util.Optional.of(m.payload());
        }
        return keys.open(m.keyId(), m.payload(), dev.bulwark.server.ownership.Ownership.aad(m.tenantId(), m.deviceId(), m.kind()));
    }

    /** Every stored message of every tenant, segment by segment (for tests and tools; call {@link #flush} first). */
    public void forEach(Handle h, Consumer<StoredMessage> each) {
        SegmentStore.forEach(h, each);
    }

    /**
     * Every message in a database holding this schema, log and segments, read over a plain connection: to inspect
     * a copy (a backup, a restored dump) the way an attacker holding it would.
     */
    public static List<StoredMessage> readAll(Connection c) throws SQLException {
        List<StoredMessage> out = new ArrayList<>();
        DatabaseLog.readAll(c, out);
        SegmentStore.readAll(c, out);
        return out;
    }

    /**
     * Stops the compactor after moving what is pending (call it after the writer stopped); what cannot be moved
     * now stays in the log for the next start.
     */
    @Override
    public void close() {
        compactor.shutdown();
        try {
            compactor.awaitTermination(30, TimeUnit.SECONDS);
            compact();
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        } catch (RuntimeException e) {
            LOG.warn("telemetry left in the log for the next start: {}", e.toString());
        }
        log.close();
    }
}
