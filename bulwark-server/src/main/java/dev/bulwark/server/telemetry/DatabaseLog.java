package dev.bulwark.server.telemetry;

import dev.bulwark.server.store.Database;
import java.sql.Connection;
import java.sql.PreparedStatement;
import java.sql.ResultSet;
import java.sql.SQLException;
import java.util.ArrayList;
import java.util.List;
import org.jdbi.v3.core.Handle;

/**
 * The log in the database ({@code telemetry_log}): each batch is one row (more past {@link #BLOCK_BYTES}),
 * committed in one transaction. Used with an external database, where every node's acknowledged messages must
 * be in the shared database. A message's sequence number is {@code rowId << 16 | position}.
 *
 * <p>A log row holds the messages of a batch from any tenants and devices (that is what makes a group commit
 * cheap), so its statements address rows by id, never by tenant; the compactor moves each message into its
 * tenant's segments.
 */
public final class DatabaseLog implements MessageLog {
    /** A log row is closed at this size (a larger single message makes a row of its own). */
    static final int BLOCK_BYTES = 1 << 20;

    /**
     * Told, in the transaction that appends them, which log rows this node wrote: a part that must see every
     * committed message even across a crash (northbound publishing) keeps its own record of them there.
     */
    public interface Outbox {
        Outbox NONE = (h, rows) -> { };

        void appended(Handle h, long[] rows);
    }

    private final Database db;
    private final Outbox outbox;
    private final MessageCodec.Buffer block = new MessageCodec.Buffer(BLOCK_BYTES + (64 << 10));

    public DatabaseLog(Database db) {
        this(db, Outbox.NONE);
    }

    public DatabaseLog(Database db, Outbox outbox) {
        this.db = db;
        this.outbox = java.util.Objects.requireNonNull(outbox, "outbox");
    }

    @Override
    public Batch append(List<StoredMessage> drafts) {
        return db.tx(h -> {
            Connection c = h.getConnection();
            List<StoredMessage> out = new ArrayList<>(drafts.size());
            List<Long> rows = new ArrayList<>();
            try (PreparedStatement ps = c.prepareStatement("INSERT INTO telemetry_log (body) VALUES (?)", new String[] {"id"})) {
                int start = 0;
                block.begin(MessageCodec.LOG_FORMAT);
                for (int i = 0; i < drafts.size(); i++) {
                    MessageCodec.appendLog(block, drafts.get(i));
                    if (i == drafts.size() - 1 || block.size() >= BLOCK_BYTES || block.messages == MessageCodec.MAX_PER_BLOCK) {
                        ps.setBytes(1, block.toByteArray());
                        ps.executeUpdate();
                        long id;
                        try (ResultSet keys = ps.getGeneratedKeys()) {
                            keys.next();
                            id = keys.getLong(1);
                        }
                        rows.add(id);
                        for (int j = start; j <= i; j++) {
                            out.add(drafts.get(j).withSeq((id << 16) | (j - start)));
                        }
                        start = i + 1;
                        block.begin(MessageCodec.LOG_FORMAT);
                    }
                }
            } catch (SQLException e) {
                throw new IllegalStateException(e);
            }
            long[] refs = rows.stream().mapToLong(Long::longValue).toArray();
            outbox.appended(h, refs);
            return new Batch(out, refs);
        });
    }

    @Override
    public void release(Handle h, List<Batch> batches) {
        try (PreparedStatement del = h.getConnection().prepareStatement("DELETE FROM telemetry_log WHERE id = ?")) {
            int expected = 0;
            for (Batch b : batches) {
                for (long id : b.refs()) {
                    del.setLong(1, id);
                    del.addBatch();
                    expected++;
                }
            }
            int removed = 0;
            for (int n : del.executeBatch()) {
                removed += n;
            }
            if (removed != expected) {
                throw new ConcurrentCompaction();
            }
        } catch (SQLException e) {
            throw new IllegalStateException(e);
        }
    }

    @Override
    public void afterRelease() {
        // the rows are gone with the transaction
    }

    @Override
    public List<Batch> recover(Handle h) {
        List<Batch> out = new ArrayList<>();
        try (PreparedStatement ps = h.getConnection().prepareStatement("SELECT id, body FROM telemetry_log ORDER BY id");
             ResultSet rs = ps.executeQuery()) {
            while (rs.next()) {
                long id = rs.getLong(1);
                List<StoredMessage> ms = MessageCodec.decodeLog(id << 16, rs.getBytes(2));
                if (!ms.isEmpty()) {
                    out.add(new Batch(ms, new long[] {id}));
                }
            }
        } catch (SQLException e) {
            throw new IllegalStateException(e);
        }
        return out;
    }

    /** The messages of those of log rows {@code ids} still in the log (not yet moved into segments), in seq order. */
    List<StoredMessage> rows(Handle h, List<Long> ids) {
        List<StoredMessage> out = new ArrayList<>();
        if (ids.isEmpty()) {
            return out;
        }
        h.createQuery("SELECT id, body FROM telemetry_log WHERE id IN (<ids>) ORDER BY id").bindList("ids", ids)
                .map((rs, ctx) -> MessageCodec.decodeLog(rs.getLong(1) << 16, rs.getBytes(2))).forEach(out::addAll);
        return out;
    }

    /** The log rows other than {@code known} (those of other nodes, not yet in segments), oldest first. */
    @Override
    public List<Batch> others(Handle h, java.util.Set<Long> known) {
        List<Long> ids = h.createQuery("SELECT id FROM telemetry_log ORDER BY id").mapTo(Long.class).list().stream()
                .filter(id -> !known.contains(id)).toList();
        List<Batch> out = new ArrayList<>();
        for (int i = 0; i < ids.size(); i += 256) {
            h.createQuery("SELECT id, body FROM telemetry_log WHERE id IN (<ids>) ORDER BY id")
                    .bindList("ids", ids.subList(i, Math.min(ids.size(), i + 256)))
                    .map((rs, ctx) -> {
                        long id = rs.getLong(1);
                        return new Batch(MessageCodec.decodeLog(id << 16, rs.getBytes(2)), new long[] {id});
                    }).forEach(b -> {
                        if (!b.messages().isEmpty()) {
                            out.add(b);
                        }
                    });
        }
        return out;
    }

    @Override
    public List<Batch> stillPending(Handle h, List<Batch> batches) {
        java.util.Set<Long> present = new java.util.HashSet<>(h.createQuery("SELECT id FROM telemetry_log WHERE id IN (<ids>)")
                .bindList("ids", batches.stream().flatMapToLong(b -> java.util.Arrays.stream(b.refs())).boxed().toList())
                .mapTo(Long.class).list());
        return batches.stream().filter(b -> java.util.Arrays.stream(b.refs()).allMatch(present::contains)).toList();
    }

    /**
     * Carries messages stored one row each ({@code device_messages}, schema versions before 11) into the log, in
     * their order, as they are; returns how many (see {@link TelemetryStore#moveLegacyRows}).
     */
    static long moveLegacyRows(Connection c) throws SQLException {
        MessageCodec.Buffer block = new MessageCodec.Buffer(BLOCK_BYTES + (64 << 10));
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
                if (block.size() >= BLOCK_BYTES || block.messages == MessageCodec.MAX_PER_BLOCK) {
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

    /** Every message the log rows hold, over a plain connection (see {@link TelemetryStore#readAll}). */
    static void readAll(Connection c, List<StoredMessage> out) throws SQLException {
        try (var st = c.createStatement(); ResultSet rs = st.executeQuery("SELECT id, body FROM telemetry_log ORDER BY id")) {
            while (rs.next()) {
                out.addAll(MessageCodec.decodeLog(rs.getLong(1) << 16, rs.getBytes(2)));
            }
        }
    }

    @Override
    public void close() {
        // nothing held
    }
}
