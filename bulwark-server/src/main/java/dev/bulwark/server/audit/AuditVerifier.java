package dev.bulwark.server.audit;

import dev.bulwark.server.audit.AuditSigner.AuditVerifyKey;
import java.nio.file.Path;
import java.util.Map;
import java.util.TreeMap;
import org.jdbi.v3.core.Handle;

/**
 * Verifies the audit chain: sequence numbers contiguous from 1, each entry's {@code prev_hash} equal
 * to the previous entry's hash, each hash equal to the hash recomputed from the entry's fields, every
 * checkpoint signed by the audit key and matching the chain, and no checkpoint (in the database or in
 * the anchor file) beyond the end of the chain. It names the first entry that fails.
 */
public final class AuditVerifier {

    /** The verdict: {@code ok}, how many entries were checked, and the first problem found. */
    public record Result(boolean ok, long entries, long firstBadSeq, String problem) {
        public static Result ok(long entries) {
            return new Result(true, entries, -1, null);
        }

        public static Result bad(long entries, long seq, String problem) {
            return new Result(false, entries, seq, problem);
        }

        public String describe() {
            return ok ? "OK: " + entries + " audit entries, chain intact, checkpoints valid"
                    : "TAMPERED: entry " + firstBadSeq + ": " + problem;
        }
    }

    private final AuditVerifyKey key;
    private final Path anchorFile;

    /**
     * @param key        the audit public key; checkpoints are checked against it
     * @param anchorFile the node's anchor file, or null when verifying a database without its data directory
     */
    public AuditVerifier(AuditVerifyKey key, Path anchorFile) {
        this.key = key;
        this.anchorFile = anchorFile;
    }

    public Result verify(Handle h) {
        Map<Long, String[]> checkpoints = new TreeMap<>();
        h.createQuery("SELECT seq, hash, time_ms, signature FROM audit_checkpoints ORDER BY seq")
                .map((rs, ctx) -> new String[] {rs.getString("seq"), rs.getString("hash"), rs.getString("time_ms"), rs.getString("signature")})
                .forEach(c -> checkpoints.put(Long.parseLong(c[0]), c));

        long expectedSeq = 1;
        String prevHash = AuditRecord.GENESIS_HASH;
        long count = 0;
        try (var it = h.createQuery("SELECT * FROM audit_log ORDER BY seq").map(AuditLog.MAPPER).iterator()) {
            while (it.hasNext()) {
                AuditRecord r = it.next();
                if (r.seq() != expectedSeq) {
                    return Result.bad(count, expectedSeq, r.seq() > expectedSeq
                            ? "missing: the chain jumps from " + (expectedSeq - 1) + " to " + r.seq() + " (entries deleted)"
                            : "sequence out of order");
                }
                if (!r.prevHash().equals(prevHash)) {
                    return Result.bad(count, r.seq(), "previous-hash link broken (an entry before it was deleted, reordered or rewritten)");
                }
                if (!r.recomputeHash().equals(r.hash())) {
                    return Result.bad(count, r.seq(), "content does not match its hash (entry edited)");
                }
                String[] cp = checkpoints.get(r.seq());
                if (cp != null) {
                    if (!cp[1].equals(r.hash()) || !key.verify(r.seq(), cp[1], Long.parseLong(cp[2]), cp[3])) {
                        return Result.bad(count, r.seq(), "signed checkpoint does not match (chain rewritten after this entry was signed)");
                    }
                } else {
                    return Result.bad(count, r.seq(), "no signed checkpoint for this entry (entry inserted or checkpoint deleted)");
                }
                prevHash = r.hash();
                expectedSeq++;
                count++;
            }
        }
        long last = expectedSeq - 1;
        for (Map.Entry<Long, String[]> cp : checkpoints.entrySet()) {
            if (cp.getKey() > last && key.verify(cp.getKey(), cp.getValue()[1], Long.parseLong(cp.getValue()[2]), cp.getValue()[3])) {
                return Result.bad(count, last + 1, "missing: a signed checkpoint exists for entry " + cp.getKey()
                        + " but the chain ends at " + last + " (newest entries deleted)");
            }
        }
        var head = h.createQuery("SELECT seq, hash FROM audit_head WHERE id = 1")
                .map((rs, ctx) -> new Object[] {rs.getLong("seq"), rs.getString("hash")}).findOne();
        if (head.isPresent() && ((Long) head.get()[0] != last || !head.get()[1].equals(prevHash))) {
            return Result.bad(count, Math.min(last + 1, (Long) head.get()[0]), "chain head does not match the last entry (entries deleted or appended outside the log)");
        }
        if (anchorFile != null) {
            AuditAnchor anchor = AuditAnchor.read(anchorFile);
            if (anchor != null && key.verify(anchor.seq(), anchor.hash(), anchor.timeMs(), anchor.signature())) {
                if (anchor.seq() > last) {
                    return Result.bad(count, last + 1, "missing: the node's anchor names entry " + anchor.seq()
                            + " but the chain ends at " + last + " (newest entries deleted)");
                }
                String hashAt = h.createQuery("SELECT hash FROM audit_log WHERE seq = :seq").bind("seq", anchor.seq())
                        .mapTo(String.class).findOne().orElse("");
                if (!hashAt.equals(anchor.hash())) {
                    return Result.bad(count, anchor.seq(), "does not match the node's signed anchor (chain rewritten)");
                }
            }
        }
        return Result.ok(count);
    }
}
