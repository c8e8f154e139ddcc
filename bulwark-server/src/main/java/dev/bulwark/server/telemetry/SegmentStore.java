package dev.bulwark.server.telemetry;

import dev.bulwark.server.crypto.DataKeys;
import java.sql.Connection;
import java.sql.PreparedStatement;
import java.sql.ResultSet;
import java.sql.SQLException;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Objects;
import java.util.function.Consumer;
import org.jdbi.v3.core.Handle;

/**
 * The per-device segments ({@code telemetry_segments}): one row per device, kind and data key holding the
 * messages of about a second, indexed by device and by age. The compactor writes them ({@link #write}); reads
 * and deletions name the tenant and the device. All SQL on the segments is here.
 */
final class SegmentStore {
    /** A segment never spans more receive time than this, so retention finds the segments that straddle its cutoff. */
    static final long SEGMENT_SPAN_MS = 60_000;
    /** A segment is closed at this many messages or bytes, so that a page read decodes little more than it returns. */
    private static final int SEGMENT_MESSAGES = 1024;
    private static final int SEGMENT_BYTES = 256 << 10;
    private static final int SEGMENTS_PER_QUERY = 16;
    /**
     * A segment never spans more log rows than this (seq {@code >>> 16} is the log row), so the segments holding a
     * given seq are found in a bounded range of the seq index ({@link #inSeqRange}); a segment gathers about a second of
     * the log, far fewer rows, except when a start recovers a long log.
     */
    static final long SEGMENT_ROW_SPAN = 1 << 16;

    static final String COLUMNS = "id, tenant_id, device_id, kind, key_id, first_seq, last_seq, min_ms, max_ms, messages, body";

    private final DataKeys keys;
    private final MessageCodec.Buffer buffer = new MessageCodec.Buffer(64 << 10);

    SegmentStore(DataKeys keys) {
        this.keys = keys;
    }

    /** One stored segment, decoded. */
    record Segment(long id, long lastSeq, List<StoredMessage> messages) {
        static Segment of(ResultSet rs) throws SQLException {
            return new Segment(rs.getLong("id"), rs.getLong("last_seq"), MessageCodec.decodeSegment(rs.getString("tenant_id"),
                    rs.getString("device_id"), rs.getString("kind"), rs.getString("key_id"), rs.getBytes("body")));
        }
    }

    private synchronized byte[] encode(List<StoredMessage> ms) {
        return MessageCodec.encodeSegment(buffer, ms);
    }

    /**
     * Writes the messages of {@code chunk} as segments, in {@code h}'s transaction; returns how many messages were
     * dropped because they are sealed under a destroyed key (unreadable for good, their owner gone).
     */
    long write(Handle h, List<MessageLog.Batch> chunk) {
        Map<List<String>, List<StoredMessage>> groups = new LinkedHashMap<>();
        for (MessageLog.Batch b : chunk) {
            for (StoredMessage m : b.messages()) {
                groups.computeIfAbsent(List.of(m.tenantId(), m.deviceId(), m.kind()), k -> new ArrayList<>()).add(m);
            }
        }
        long dropped = 0;
        try (PreparedStatement ins = h.getConnection().prepareStatement("INSERT INTO telemetry_segments (tenant_id, device_id, kind, "
                + "key_id, first_seq, last_seq, min_ms, max_ms, messages, body) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)")) {
            for (List<StoredMessage> group : groups.values()) {
                // consecutive runs under one key, cut at size and time bounds: the segments of one device and kind
                // never overlap in seq, which keeps seq-ordered pagination exact. In seq order (already so, unless a
                // cluster's nodes committed rows out of their numbering): first_seq and last_seq bound the segment
                group.sort(java.util.Comparator.comparingLong(StoredMessage::seq));
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
                            || !Objects.equals(group.get(i + 1).keyId(), group.get(start).keyId())
                            || (group.get(i + 1).seq() >>> 16) - (group.get(start).seq() >>> 16) >= SEGMENT_ROW_SPAN
                            || Math.max(max, group.get(i + 1).receivedMs()) - Math.min(min, group.get(i + 1).receivedMs()) > SEGMENT_SPAN_MS) {
                        List<StoredMessage> run = group.subList(start, i + 1);
                        String keyId = run.get(0).keyId();
                        if (keyId != null && keys.get(keyId).isEmpty()) {
                            dropped += run.size();
                        } else {
                            add(ins, run);
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
        return dropped;
    }

    private void add(PreparedStatement ins, List<StoredMessage> ms) throws SQLException {
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
        ins.setBytes(10, encode(ms));
        ins.addBatch();
    }

    List<String> kinds(Handle h, String tenant, String device, String keyId) {
        return h.createQuery("SELECT DISTINCT kind FROM telemetry_segments WHERE tenant_id = :t AND device_id = :d AND key_id = :k ORDER BY kind")
                .bind("t", tenant).bind("d", device).bind("k", keyId).mapTo(String.class).list();
    }

    /**
     * The first {@code limit} messages after {@code q.afterSeq()} in seq order. Segments are read in the order of
     * their last seq; where the nodes of a cluster wrote segments of one device whose seq ranges overlap (a device
     * moving between nodes, a node's rows moved by another), a segment read later may still hold messages below the
     * page's end, so once the page is full the segments not read yet that start below its end are read too (they
     * start at most {@link #SEGMENT_ROW_SPAN} log rows before they end: a bounded window of the seq index).
     */
    List<StoredMessage> page(Handle h, TelemetryStore.Query q, int limit) {
        Objects.requireNonNull(q.kind(), "page reads one kind at a time");
        List<StoredMessage> out = new ArrayList<>(Math.min(limit, 1024));
        long after = q.afterSeq();
        boolean more = true;
        while (more && out.size() < limit) {
            List<Segment> segments = segments(h, q, after);
            for (Segment s : segments) {
                collect(s, q, out);
                after = s.lastSeq();
            }
            more = segments.size() == SEGMENTS_PER_QUERY;
        }
        out.sort(java.util.Comparator.comparingLong(StoredMessage::seq));
        if (more && out.size() >= limit) {
            long end = out.get(limit - 1).seq();
            long lowest = q.afterSeq() - (SEGMENT_ROW_SPAN << 16);
            int before = out.size();
            for (Segment s : overlapping(h, q, lowest, end, after)) {
                collect(s, q, out);
            }
            if (out.size() > before) {
                out.sort(java.util.Comparator.comparingLong(StoredMessage::seq));
            }
        }
        return out.size() > limit ? new ArrayList<>(out.subList(0, limit)) : out;
    }

    private static void collect(Segment s, TelemetryStore.Query q, List<StoredMessage> out) {
        for (StoredMessage m : s.messages()) {
            if (m.seq() > q.afterSeq() && m.receivedMs() >= q.fromMs() && m.receivedMs() < q.toMs()) {
                out.add(m);
            }
        }
    }

    /** The segments ending after {@code readUpTo} (not read yet) that start in {@code (lowest, end)}. */
    private List<Segment> overlapping(Handle h, TelemetryStore.Query q, long lowest, long end, long readUpTo) {
        StringBuilder sql = new StringBuilder("SELECT ").append(COLUMNS).append(" FROM telemetry_segments WHERE tenant_id = :t "
                + "AND device_id = :d AND kind = :kind AND first_seq > :lowest AND first_seq < :end AND last_seq > :read "
                + "AND max_ms >= :from AND min_ms < :to");
        if (q.keyIds() != null) {
            sql.append(" AND key_id IN (<keys>)");
        }
        var query = h.createQuery(sql.toString()).bind("t", q.tenant()).bind("d", q.device()).bind("kind", q.kind())
                .bind("lowest", lowest).bind("end", end).bind("read", readUpTo).bind("from", q.fromMs()).bind("to", q.toMs());
        if (q.keyIds() != null) {
            query.bindList("keys", q.keyIds().isEmpty() ? List.of("-") : q.keyIds());
        }
        return query.map((rs, ctx) -> Segment.of(rs)).list();
    }

    private List<Segment> segments(Handle h, TelemetryStore.Query q, long after) {
        StringBuilder sql = new StringBuilder("SELECT ").append(COLUMNS)
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

    long count(Handle h, String tenant, String device, String keyId) {
        return h.createQuery("SELECT COALESCE(SUM(messages), 0) FROM telemetry_segments WHERE tenant_id = :t AND device_id = :d AND key_id = :k")
                .bind("t", tenant).bind("d", device).bind("k", keyId).mapTo(Long.class).one();
    }

    long deleteKeys(Handle h, String tenant, String device, List<String> keyIds) {
        if (keyIds.isEmpty()) {
            return 0;
        }
        long n = h.createQuery("SELECT COALESCE(SUM(messages), 0) FROM telemetry_segments WHERE tenant_id = :t AND device_id = :d "
                        + "AND key_id IN (<k>)").bind("t", tenant).bind("d", device).bindList("k", keyIds).mapTo(Long.class).one();
        h.createUpdate("DELETE FROM telemetry_segments WHERE tenant_id = :t AND device_id = :d AND key_id IN (<k>)")
                .bind("t", tenant).bind("d", device).bindList("k", keyIds).execute();
        return n;
    }

    long deleteOlderThan(Handle h, String tenant, long cutoffMs) {
        long n = h.createQuery("SELECT COALESCE(SUM(messages), 0) FROM telemetry_segments WHERE tenant_id = :t AND max_ms < :c")
                .bind("t", tenant).bind("c", cutoffMs).mapTo(Long.class).one();
        if (n > 0) {
            h.createUpdate("DELETE FROM telemetry_segments WHERE tenant_id = :t AND max_ms < :c").bind("t", tenant).bind("c", cutoffMs).execute();
        }
        // segments that straddle the cutoff keep only their younger messages
        // (a segment spans at most SEGMENT_SPAN_MS, so they are found in a narrow range of the age index)
        List<Segment> straddling = h.createQuery("SELECT " + COLUMNS + " FROM telemetry_segments WHERE tenant_id = :t "
                        + "AND max_ms >= :c AND max_ms <= :end AND min_ms < :c")
                .bind("t", tenant).bind("c", cutoffMs).bind("end", cutoffMs + SEGMENT_SPAN_MS).map((rs, ctx) -> Segment.of(rs)).list();
        for (Segment s : straddling) {
            List<StoredMessage> keep = s.messages().stream().filter(m -> m.receivedMs() >= cutoffMs).toList();
            n += s.messages().size() - keep.size();
            h.createUpdate("UPDATE telemetry_segments SET first_seq = :f, min_ms = :min, messages = :n, body = :b "
                            + "WHERE tenant_id = :t AND id = :id")
                    .bind("f", keep.get(0).seq()).bind("min", keep.stream().mapToLong(StoredMessage::receivedMs).min().orElseThrow())
                    .bind("n", keep.size()).bind("b", encode(keep)).bind("t", tenant).bind("id", s.id()).execute();
        }
        return n;
    }

    /**
     * The messages of the segments (any tenant) that hold sequence numbers between {@code lo} and {@code hi}: to find
     * what a node committed by where it was in the log ({@link TelemetryStore#written}), never for a tenant's request.
     */
    void inSeqRange(Handle h, long lo, long hi, Consumer<StoredMessage> each) {
        h.createQuery("SELECT " + COLUMNS + " FROM telemetry_segments WHERE last_seq >= :lo AND last_seq <= :bound AND first_seq <= :hi "
                        + "ORDER BY id")
                .bind("lo", lo).bind("hi", hi).bind("bound", hi + (SEGMENT_ROW_SPAN << 16)).map((rs, ctx) -> Segment.of(rs))
                .forEach(s -> s.messages().stream().filter(m -> m.seq() >= lo && m.seq() <= hi).forEach(each));
    }

    /** Every tenant's stored messages, segment by segment: for tests and tools, never for a tenant's request. */
    static void forEach(Handle h, Consumer<StoredMessage> each) {
        h.createQuery("SELECT " + COLUMNS + " FROM telemetry_segments ORDER BY id").map((rs, ctx) -> Segment.of(rs))
                .forEach(s -> s.messages().forEach(each));
    }

    /** Every segment's messages over a plain connection (see {@link TelemetryStore#readAll}). */
    static void readAll(Connection c, List<StoredMessage> out) throws SQLException {
        try (var st = c.createStatement(); ResultSet rs = st.executeQuery("SELECT " + COLUMNS + " FROM telemetry_segments ORDER BY id")) {
            while (rs.next()) {
                out.addAll(Segment.of(rs).messages());
            }
        }
    }
}
