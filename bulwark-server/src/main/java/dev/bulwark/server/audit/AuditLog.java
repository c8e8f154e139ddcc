package dev.bulwark.server.audit;

import dev.bulwark.protocol.TenantId;
import dev.bulwark.server.config.DataDir;
import dev.bulwark.server.core.Clock;
import java.nio.file.Path;
import java.util.List;
import java.util.Optional;
import java.util.function.Predicate;
import org.jdbi.v3.core.Handle;
import org.jdbi.v3.core.mapper.RowMapper;

/**
 * The operator audit log: an append-only hash chain with a signed checkpoint for every entry.
 *
 * <p>{@link #append} runs inside the caller's transaction, so an action and its audit entry commit
 * together or not at all. Appends lock the single {@code audit_head} row, which orders them across
 * connections and nodes sharing one database.
 *
 * <p>After each commit the newest checkpoint is also written to {@code audit/anchor} in the data
 * directory, so that deleting the newest entries together with their checkpoints in the database
 * (truncating the tail) is still detected by {@code bulwark audit verify --data}.
 *
 * <p>Reads of entries are keyed by tenant ({@link #page}); the chain itself (head, checkpoints, the walk of
 * {@link AuditVerifier}) spans every tenant, since it is one chain.
 */
public final class AuditLog {
    static final RowMapper<AuditRecord> MAPPER = (rs, ctx) -> new AuditRecord(
            rs.getLong("seq"), rs.getLong("time_ms"), rs.getString("tenant_id"), rs.getString("actor"),
            rs.getString("action"), rs.getString("target"), rs.getString("source"), rs.getString("outcome"),
            rs.getString("detail"), rs.getString("prev_hash"), rs.getString("hash"));

    private final AuditSigner signer;
    private final Clock clock;
    private final Path anchorFile;

    public AuditLog(AuditSigner signer, Clock clock, DataDir dataDir) {
        this.signer = signer;
        this.clock = clock;
        this.anchorFile = dataDir.dir("audit").resolve("anchor");
    }

    /** Appends {@code entry} in the transaction of {@code h}; returns the stored record. */
    public AuditRecord append(Handle h, AuditEntry entry) {
        var head = h.createQuery("SELECT seq, hash FROM audit_head WHERE id = 1 FOR UPDATE")
                .map((rs, ctx) -> new Object[] {rs.getLong("seq"), rs.getString("hash")})
                .one();
        long seq = (Long) head[0] + 1;
        String prev = (String) head[1];
        long now = clock.nowMs();
        String hash = AuditRecord.computeHash(prev, seq, now, entry.tenantId(), entry.actor(), entry.action(),
                entry.target(), entry.source(), entry.outcome(), entry.detail());
        h.createUpdate("INSERT INTO audit_log (seq, time_ms, tenant_id, actor, action, target, source, outcome, detail, prev_hash, hash) "
                        + "VALUES (:seq, :time, :tenant, :actor, :action, :target, :source, :outcome, :detail, :prev, :hash)")
                .bind("seq", seq).bind("time", now).bind("tenant", entry.tenantId()).bind("actor", entry.actor())
                .bind("action", entry.action()).bind("target", entry.target()).bind("source", entry.source())
                .bind("outcome", entry.outcome()).bind("detail", entry.detail()).bind("prev", prev).bind("hash", hash)
                .execute();
        h.createUpdate("UPDATE audit_head SET seq = :seq, hash = :hash WHERE id = 1")
                .bind("seq", seq).bind("hash", hash).execute();
        String signature = signer.sign(seq, hash, now);
        h.createUpdate("INSERT INTO audit_checkpoints (seq, hash, time_ms, key_id, signature) VALUES (:seq, :hash, :time, :key, :sig)")
                .bind("seq", seq).bind("hash", hash).bind("time", now).bind("key", signer.keyId()).bind("sig", signature)
                .execute();
        AuditRecord record = new AuditRecord(seq, now, entry.tenantId(), entry.actor(), entry.action(), entry.target(),
                entry.source(), entry.outcome(), entry.detail(), prev, hash);
        h.afterCommit(() -> writeAnchor(seq, hash, now, signature));
        return record;
    }

    private synchronized void writeAnchor(long seq, String hash, long timeMs, String signature) {
        AuditAnchor current = AuditAnchor.read(anchorFile);
        if (current == null || current.seq() < seq) {
            DataDir.writeSecret(anchorFile, new AuditAnchor(seq, hash, timeMs, signature).encode());
        }
    }

    /**
     * Entries of one tenant (or the platform's, when {@code tenant} is null), newest first,
     * with seq below {@code beforeSeq}.
     */
    public List<AuditRecord> page(Handle h, TenantId tenant, long beforeSeq, int limit) {
        String where = tenant == null ? "tenant_id IS NULL" : "tenant_id = :tenant";
        return h.createQuery("SELECT * FROM audit_log WHERE " + where + " AND seq < :before ORDER BY seq DESC LIMIT :limit")
                .bind("tenant", tenant == null ? null : tenant.value()).bind("before", beforeSeq).bind("limit", limit)
                .map(MAPPER).list();
    }

    /** A signed checkpoint as stored. */
    record Checkpoint(long seq, String hash, long timeMs, String signature) {
    }

    /** The head of the chain as stored: the last sequence number and its hash. */
    record Head(long seq, String hash) {
    }

    /** Every checkpoint, in sequence order (the whole chain, across tenants: it is one chain). */
    static List<Checkpoint> checkpoints(Handle h) {
        return h.createQuery("SELECT seq, hash, time_ms, signature FROM audit_checkpoints ORDER BY seq")
                .map((rs, ctx) -> new Checkpoint(rs.getLong("seq"), rs.getString("hash"), rs.getLong("time_ms"), rs.getString("signature")))
                .list();
    }

    /** Streams every entry in sequence order to {@code visitor} until it returns false; false when it stopped early. */
    static boolean eachInOrder(Handle h, Predicate<AuditRecord> visitor) {
        try (var it = h.createQuery("SELECT * FROM audit_log ORDER BY seq").map(MAPPER).iterator()) {
            while (it.hasNext()) {
                if (!visitor.test(it.next())) {
                    return false;
                }
            }
        }
        return true;
    }

    static Optional<Head> head(Handle h) {
        return h.createQuery("SELECT seq, hash FROM audit_head WHERE id = 1")
                .map((rs, ctx) -> new Head(rs.getLong("seq"), rs.getString("hash"))).findOne();
    }

    /** The hash of entry {@code seq}, if there is one. */
    static Optional<String> hashAt(Handle h, long seq) {
        return h.createQuery("SELECT hash FROM audit_log WHERE seq = :seq").bind("seq", seq).mapTo(String.class).findOne();
    }
}
