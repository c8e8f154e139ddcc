package dev.bulwark.server.telemetry;

import dev.bulwark.server.crypto.DataKeys;
import dev.bulwark.server.store.Database;
import java.sql.Connection;
import java.sql.PreparedStatement;
import java.sql.ResultSet;
import java.sql.SQLException;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
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
 * <p>The ingest path only appends: each group commit inserts one log block ({@code telemetry_log}, one row of
 * all the batch's messages, any devices) and commits; nothing indexed per device is touched, so a commit
 * costs about the same whether it carries the messages of one device or of thousands. A compactor then
 * moves the log, about once a second, into segments ({@code telemetry_segments}): one row per device, kind
 * and data key holding all the messages that arrived in that interval, indexed by device and by age. The move
 * is one transaction (segments inserted, log rows deleted), so a message is in exactly one of the two at any
 * moment, also across a crash.
 *
 * <p>Reads see every acknowledged message: they first compact what the log holds ({@link #flush}), then read
 * segments only. A message's {@code seq} is assigned by its log row ({@code rowId << 16 | position}), so it
 * increases in commit order and serves as the pagination cursor.
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
    /** A segment never spans more receive time than this, so retention finds the segments that straddle its cutoff. */
    static final long SEGMENT_SPAN_MS = 60_000;
    /** A segment is closed at this many messages or bytes, so that a page read decodes little more than it returns. */
    private static final int SEGMENT_MESSAGES = 1024;
    private static final int SEGMENT_BYTES = 256 << 10;
    private static final int SEGMENTS_PER_QUERY = 16;

    private static final String SEGMENT_COLUMNS = "id, tenant_id, device_id, kind, key_id, first_seq, last_seq, min_ms, max_ms, messages, body";

    private final Database db;
    private final DataKeys keys;
    private final MessageLog log;
    private final ScheduledExecutorService compactor;
    private final MessageCodec.Buffer segmentBuffer = new MessageCodec.Buffer(64 << 10);
    private final AtomicLong compacted = new AtomicLong();
    private final AtomicLong compactions = new AtomicLong();
    private final AtomicLong dropped = new AtomicLong();
    /** Batches committed to the log and not yet in segments, oldest first; guarded by {@code pendingLock}. */
    private final java.util.ArrayDeque<MessageLog.Batch> pending = new java.util.ArrayDeque<>();
    private final Object pendingLock = new Object();
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
        List<MessageLog.Batch> recovered = db.read(log::recover);
        if (!recovered.isEmpty()) {
            LOG.info("moving {} batches left in the telemetry log into segments", recovered.size());
        }
        synchronized (pendingLock) {
            recovered.forEach(b -> {
                pending.add(b);
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
            pending.add(batch);
            pendingBytes += size;
        }
    }

    /**
     * Carries messages stored one row each ({@code device_messages}, schema versions before 11) into the
     * database log, in their order, as they are; returns how many. Used once, by the schema migration (the
     * embedded database's node recovers them from there too: it reads that table once, then uses its file log).
     */
    public static long moveLegacyRows(Connection c) throws SQLException {
        MessageCodec.Buffer block = new MessageCodec.Buffer(DatabaseLog.BLOCK_BYTES + (64 << 10));
        block.begin(MessageCodec.LOG_FORMAT);
        long n = 0;
        try (PreparedStatement ps = c.prepareStatement("SELECT tenant_id, device_id, kind, received_ms, qos, channel, source, "
                + "connection, key_id, payload FROM device_messages ORDER BY id");
             PreparedStatement ins = c.prepareStatement("INSERT INTO telemetry_log (body) VALUES (?)")) {
            ps.setFetchSize(1000); // streamed (the migration's transaction lets PostgreSQL use a cursor)
            ResultSet rs = ps.executeQuery();
            while (rs.next()) {
                MessageCodec.appendLog(block, new StoredMessage(rs.getString(1), rs.getString(2), rs.getString(3), 0, rs.getLong(4),
                        rs.getInt(5), rs.getString(6), rs.getString(7), rs.getString(8), rs.getString(9), rs.getBytes(10)));
                n++;
                if (block.size() >= DatabaseLog.BLOCK_BYTES || block.messages == MessageCodec.MAX_PER_BLOCK) {
                    ins.setBytes(1, block.toByteArray());
                    ins.executeUpdate();
                    block.begin(MessageCodec.LOG_FORMAT);
                }
            }
            if (block.messages > 0) {
                ins.setBytes(1, block.toByteArray());
                ins.executeUpdate();
            }
        }
        return n;
    }

    // ---- compaction ----

    /** Moves everything acknowledged so far into segments; returns when it is done. */
    public void flush() {
        compact();
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
                }
            }
            if (chunk.isEmpty()) {
                return;
            }
            left -= chunk.size();
            try {
                db.tx(h -> {
                    writeSegments(h, chunk);
                    log.release(h, chunk);
                    return null;
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
                pendingBytes += chunk.get(i).bytes();
            }
            pendingLock.notifyAll();
        }
    }

    private void writeSegments(Handle h, List<MessageLog.Batch> chunk) {
        Map<List<String>, List<StoredMessage>> groups = new LinkedHashMap<>();
        for (MessageLog.Batch b : chunk) {
            for (StoredMessage m : b.messages()) {
                groups.computeIfAbsent(List.of(m.tenantId(), m.deviceId(), m.kind()), k -> new ArrayList<>()).add(m);
            }
        }
        try (PreparedStatement ins = h.getConnection().prepareStatement("INSERT INTO telemetry_segments (tenant_id, device_id, kind, "
                + "key_id, first_seq, last_seq, min_ms, max_ms, messages, body) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)")) {
            for (List<StoredMessage> group : groups.values()) {
                // consecutive runs under one key, cut at size and time bounds: the segments of one device and kind
                // never overlap in seq, which keeps seq-ordered pagination exact
                int start = 0;
                int size = 0;
                long min = Long.MAX_VALUE;
                long max = Long.MIN_VALUE;
                for (int i = 0; i < group.size(); i++) {
                    size += group.get(i).payload().length + 64;
                    boolean last = i == group.size() - 1;
                    long t = group.get(i).receivedMs();
                    min = Math.min(min, t);
                    max = Math.max(max, t);
                    if (last || i + 1 - start == SEGMENT_MESSAGES || size >= SEGMENT_BYTES
                            || !java.util.Objects.equals(group.get(i + 1).keyId(), group.get(start).keyId())
                            || Math.max(max, group.get(i + 1).receivedMs()) - Math.min(min, group.get(i + 1).receivedMs()) > SEGMENT_SPAN_MS) {
                        List<StoredMessage> run = group.subList(start, i + 1);
                        String keyId = run.get(0).keyId();
                        if (keyId != null && keys.get(keyId).isEmpty()) {
                            dropped.addAndGet(run.size()); // sealed under a destroyed key: unreadable for good, its owner gone
                        } else {
                            addSegment(ins, run);
                        }
                        start = i + 1;
                        size = 0;
                        min = Long.MAX_VALUE;
                        max = Long.MIN_VALUE;
                    }
                }
            }
            ins.executeBatch();
        } catch (SQLException e) {
            throw new IllegalStateException(e);
        }
    }

    private void addSegment(PreparedStatement ins, List<StoredMessage> ms) throws SQLException {
        StoredMessage first = ms.get(0);
        long min = Long.MAX_VALUE;
        long max = Long.MIN_VALUE;
        for (StoredMessage m : ms) {
            min = Math.min(min, m.receivedMs());
            max = Math.max(max, m.receivedMs());
        }
        ins.setString(1, first.tenantId());
        ins.setString(2, first.deviceId());
        ins.setString(3, first.kind());
        ins.setString(4, first.keyId());
        ins.setLong(5, first.seq());
        ins.setLong(6, ms.get(ms.size() - 1).seq());
        ins.setLong(7, min);
        ins.setLong(8, max);
        ins.setInt(9, ms.size());
        ins.setBytes(10, MessageCodec.encodeSegment(segmentBuffer, ms));
        ins.addBatch();
    }

    // ---- reads (call flush() first to include what is still in the log) ----

    /** What to read: one device's messages, optionally of one kind and only under some keys, by seq and time. */
    public record Query(String tenant, String device, String kind, List<String> keyIds, long fromMs, long toMs, long afterSeq) {
    }

    /** The kinds of messages one device has under one key. */
    public List<String> kinds(Handle h, String tenant, String device, String keyId) {
        return h.createQuery("SELECT DISTINCT kind FROM telemetry_segments WHERE tenant_id = :t AND device_id = :d AND key_id = :k ORDER BY kind")
                .bind("t", tenant).bind("d", device).bind("k", keyId).mapTo(String.class).list();
    }

    /**
     * Up to {@code limit} messages matching {@code q}, in seq order. One kind at a time: segments of one device and
     * kind never overlap in seq, those of different kinds do, and the cursor must be exact.
     */
    public List<StoredMessage> page(Handle h, Query q, int limit) {
        java.util.Objects.requireNonNull(q.kind(), "page reads one kind at a time");
        List<StoredMessage> out = new ArrayList<>(Math.min(limit, 1024));
        long after = q.afterSeq();
        while (out.size() < limit) {
            List<Segment> segments = segments(h, q, after);
            for (Segment s : segments) {
                for (StoredMessage m : s.messages()) {
                    if (m.seq() > q.afterSeq() && m.receivedMs() >= q.fromMs() && m.receivedMs() < q.toMs() && out.size() < limit) {
                        out.add(m);
                    }
                }
                after = s.lastSeq();
            }
            if (segments.size() < SEGMENTS_PER_QUERY) {
                break;
            }
        }
        return out;
    }

    /** The number of messages of one device stored under one key. */
    public long count(Handle h, String tenant, String device, String keyId) {
        return h.createQuery("SELECT COALESCE(SUM(messages), 0) FROM telemetry_segments WHERE tenant_id = :t AND device_id = :d AND key_id = :k")
                .bind("t", tenant).bind("d", device).bind("k", keyId).mapTo(Long.class).one();
    }

    /** Deletes one device's messages stored under any of {@code keyIds}; returns how many. */
    public long deleteKeys(Handle h, String tenant, String device, List<String> keyIds) {
        if (keyIds.isEmpty()) {
            return 0;
        }
        long n = h.createQuery("SELECT COALESCE(SUM(messages), 0) FROM telemetry_segments WHERE tenant_id = :t AND device_id = :d "
                        + "AND key_id IN (<k>)").bind("t", tenant).bind("d", device).bindList("k", keyIds).mapTo(Long.class).one();
        h.createUpdate("DELETE FROM telemetry_segments WHERE tenant_id = :t AND device_id = :d AND key_id IN (<k>)")
                .bind("t", tenant).bind("d", device).bindList("k", keyIds).execute();
        return n;
    }

    /** Deletes a tenant's messages received before {@code cutoffMs}; returns how many. */
    public long deleteOlderThan(Handle h, String tenant, long cutoffMs) {
        long n = h.createQuery("SELECT COALESCE(SUM(messages), 0) FROM telemetry_segments WHERE tenant_id = :t AND max_ms < :c")
                .bind("t", tenant).bind("c", cutoffMs).mapTo(Long.class).one();
        if (n > 0) {
            h.createUpdate("DELETE FROM telemetry_segments WHERE tenant_id = :t AND max_ms < :c").bind("t", tenant).bind("c", cutoffMs).execute();
        }
        // segments that straddle the cutoff keep only their younger messages
        // (a segment spans at most SEGMENT_SPAN_MS, so they are found in a narrow range of the age index)
        List<Segment> straddling = h.createQuery("SELECT " + SEGMENT_COLUMNS + " FROM telemetry_segments WHERE tenant_id = :t "
                        + "AND max_ms >= :c AND max_ms <= :end AND min_ms < :c")
                .bind("t", tenant).bind("c", cutoffMs).bind("end", cutoffMs + SEGMENT_SPAN_MS).map((rs, ctx) -> Segment.of(rs)).list();
        for (Segment s : straddling) {
            List<StoredMessage> keep = s.messages().stream().filter(m -> m.receivedMs() >= cutoffMs).toList();
            n += s.messages().size() - keep.size();
            byte[] body;
            synchronized (this) {
                body = MessageCodec.encodeSegment(segmentBuffer, keep);
            }
            h.createUpdate("UPDATE telemetry_segments SET first_seq = :f, min_ms = :min, messages = :n, body = :b WHERE id = :id")
                    .bind("f", keep.get(0).seq()).bind("min", keep.stream().mapToLong(StoredMessage::receivedMs).min().orElseThrow())
                    .bind("n", keep.size()).bind("b", body).bind("id", s.id()).execute();
        }
        return n;
    }

    /** A message's payload in clear; empty when it is sealed under a key that was destroyed. */
    public java.util.Optional<byte[]> open(StoredMessage m) {
        if (m.keyId() == null) {
            return java.util.Optional.of(m.payload());
        }
        return keys.open(m.keyId(), m.payload(), dev.bulwark.server.lifecycle.Ownership.aad(m.tenantId(), m.deviceId(), m.kind()));
    }

    /** Every stored message, segment by segment (for tests and tools; call {@link #flush} first). */
    public void forEach(Handle h, Consumer<StoredMessage> each) {
        h.createQuery("SELECT " + SEGMENT_COLUMNS + " FROM telemetry_segments ORDER BY id").map((rs, ctx) -> Segment.of(rs))
                .forEach(s -> s.messages().forEach(each));
    }

    /**
     * Every message in a database holding this schema, log and segments, read over a plain connection: to inspect
     * a copy (a backup, a restored dump) the way an attacker holding it would.
     */
    public static List<StoredMessage> readAll(Connection c) throws SQLException {
        List<StoredMessage> out = new ArrayList<>();
        try (var st = c.createStatement()) {
            try (ResultSet rs = st.executeQuery("SELECT id, body FROM telemetry_log ORDER BY id")) {
                while (rs.next()) {
                    out.addAll(MessageCodec.decodeLog(rs.getLong(1) << 16, rs.getBytes(2)));
                }
            }
            try (ResultSet rs = st.executeQuery("SELECT " + SEGMENT_COLUMNS + " FROM telemetry_segments ORDER BY id")) {
                while (rs.next()) {
                    out.addAll(Segment.of(rs).messages());
                }
            }
        }
        return out;
    }

    private List<Segment> segments(Handle h, Query q, long after) {
        StringBuilder sql = new StringBuilder("SELECT ").append(SEGMENT_COLUMNS)
                .append(" FROM telemetry_segments WHERE tenant_id = :t AND device_id = :d AND last_seq > :after AND max_ms >= :from AND min_ms < :to");
        sql.append(" AND kind = :kind");
        if (q.keyIds() != null) {
            sql.append(" AND key_id IN (<keys>)");
        }
        sql.append(" ORDER BY last_seq LIMIT ").append(SEGMENTS_PER_QUERY);
        var query = h.createQuery(sql.toString()).bind("t", q.tenant()).bind("d", q.device()).bind("after", after)
                .bind("from", q.fromMs()).bind("to", q.toMs());
        query.bind("kind", q.kind());
        if (q.keyIds() != null) {
            query.bindList("keys", q.keyIds().isEmpty() ? List.of("-") : q.keyIds());
        }
        return query.map((rs, ctx) -> Segment.of(rs)).list();
    }

    private record Segment(long id, long lastSeq, List<StoredMessage> messages) {
        static Segment of(ResultSet rs) throws SQLException {
            return new Segment(rs.getLong("id"), rs.getLong("last_seq"), MessageCodec.decodeSegment(rs.getString("tenant_id"),
                    rs.getString("device_id"), rs.getString("kind"), rs.getString("key_id"), rs.getBytes("body")));
        }
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
