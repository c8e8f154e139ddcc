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
        Map<Long, AuditLog.Checkpoint> checkpoints = new TreeMap<>();
        AuditLog.checkpoints(h).forEach(c -> checkpoints.put(c.seq(), c));

        long[] expectedSeq = {1};
        String[] prevHash = {AuditRecord.GENESIS_HASH};
        long[] count = {0};
        Result[] bad = {null};
        AuditLog.eachInOrder(h, r -> {
            bad[0] = check(r, expectedSeq[0], prevHash[0], checkpoints.get(r.seq()), count[0]);
            if (bad[0] != null) {
                return false;
            }
            prevHash[0] = r.hash();
            expectedSeq[0]++;
            count[0]++;
            return true;
        });
        if (bad[0] != null) {
            return bad[0];
        }
        long last = expectedSeq[0] - 1;
        for (AuditLog.Checkpoint cp : checkpoints.values()) {
            if (cp.seq() > last && key.verify(cp.seq(), cp.hash(), cp.timeMs(), cp.signature())) {
                return Result.bad(count[0], last + 1, "missing: a signed checkpoint exists for entry " + cp.seq()
                        + " but the chain ends at " + last + " (newest entries deleted)");
            }
        }
        var head = AuditLog.head(h);
        if (head.isPresent() && (head.get().seq() != last || !head.get().hash().equals(prevHash[0]))) {
            return Result.bad(count[0], Math.min(last + 1, head.get().seq()), "chain head does not match the last entry (entries deleted or appended outside the log)");
        }
        if (anchorFile != null) {
            AuditAnchor anchor = AuditAnchor.read(anchorFile);
            if (anchor != null && key.verify(anchor.seq(), anchor.hash(), anchor.timeMs(), anchor.signature())) {
                if (anchor.seq() > last) {
                    return Result.bad(count[0], last + 1, "missing: the node's anchor names entry " + anchor.seq()
                            + " but the chain ends at " + last + " (newest entries deleted)");
                }
                String hashAt = AuditLog.hashAt(h, anchor.seq()).orElse("");
                if (!hashAt.equals(anchor.hash())) {
                    return Result.bad(count[0], anchor.seq(), "does not match the node's signed anchor (chain rewritten)");
                }
            }
        }
        return Result.ok(count[0]);
    }

    /** The verdict on one entry, or null when it is sound. */
    private Result check(AuditRecord r, long expectedSeq, String prevHash, AuditLog.Checkpoint cp, long count) {
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
        if (cp == null) {
            return Result.bad(count, r.seq(), "no signed checkpoint for this entry (entry inserted or checkpoint deleted)");
        }
        if (!cp.hash().equals(r.hash()) || !key.verify(r.seq(), cp.hash(), cp.timeMs(), cp.signature())) {
            return Result.bad(count, r.seq(), "signed checkpoint does not match (chain rewritten after this entry was signed)");
        }
        return null;
    }
}
