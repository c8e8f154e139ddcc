package dev.bulwark.server.audit;

import dev.bulwark.server.config.DataDir;
import java.nio.file.Files;
import java.nio.file.Path;

/** The newest signed checkpoint, kept outside the database in {@code <data>/audit/anchor}. */
record AuditAnchor(long seq, String hash, long timeMs, String signature) {

    String encode() {
        return seq + " " + hash + " " + timeMs + " " + signature + "\n";
    }

    static AuditAnchor read(Path file) {
        if (!Files.exists(file)) {
            return null;
        }
        String[] p = DataDir.read(file).trim().split(" ");
        if (p.length != 4) {
            return null;
        }
        try {
            return new AuditAnchor(Long.parseLong(p[0]), p[1], Long.parseLong(p[2]), p[3]);
        } catch (NumberFormatException e) {
            return null;
        }
    }
}
