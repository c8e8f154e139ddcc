package dev.bulwark.server.audit;

import java.io.ByteArrayOutputStream;
import java.nio.charset.StandardCharsets;
import dev.bulwark.server.crypto.Secrets;

/** A stored audit log row, and the canonical encoding its hash is computed over. */
public record AuditRecord(long seq, long timeMs, String tenantId, String actor, String action, String target,
                          String source, String outcome, String detail, String prevHash, String hash) {

    public static final String GENESIS_HASH = "0".repeat(64);

    /**
     * SHA-256 over the previous hash and every field, each length-prefixed so that no two different
     * entries share an encoding (moving characters between adjacent fields changes the hash).
     */
    public static String computeHash(String prevHash, long seq, long timeMs, String tenantId, String actor,
                                     String action, String target, String source, String outcome, String detail) {
        ByteArrayOutputStream out = new ByteArrayOutputStream(256);
        field(out, "bulwark-audit-v1");
        field(out, prevHash);
        field(out, Long.toString(seq));
        field(out, Long.toString(timeMs));
        field(out, tenantId);
        field(out, actor);
        field(out, action);
        field(out, target);
        field(out, source);
        field(out, outcome);
        field(out, detail);
        return Secrets.sha256Hex(out.toByteArray());
    }

    public String recomputeHash() {
        return computeHash(prevHash, seq, timeMs, tenantId, actor, action, target, source, outcome, detail);
    }

    private static void field(ByteArrayOutputStream out, String value) {
        if (value == null) {
            out.write(0xff);
            return;
        }
        byte[] b = value.getBytes(StandardCharsets.UTF_8);
        int n = b.length;
        out.write(n >>> 24);
        out.write(n >>> 16);
        out.write(n >>> 8);
        out.write(n);
        out.write(b, 0, n);
    }
}
