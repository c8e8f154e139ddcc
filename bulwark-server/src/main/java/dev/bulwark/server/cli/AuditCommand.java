package dev.bulwark.server.cli;

import dev.bulwark.server.audit.AuditSigner;
import dev.bulwark.server.audit.AuditVerifier;
import dev.bulwark.server.config.DataDir;
import dev.bulwark.server.store.Database;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.concurrent.Callable;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;

/** {@code bulwark audit verify}: check the audit hash chain and its signed checkpoints. */
@Command(name = "audit", mixinStandardHelpOptions = true, description = "Work with the operator audit log.",
        subcommands = AuditCommand.Verify.class)
public final class AuditCommand implements Runnable {

    @Override
    public void run() {
        new picocli.CommandLine(this).usage(System.out);
    }

    @Command(name = "verify", mixinStandardHelpOptions = true,
            description = "Verify the audit chain. Exit code 0: intact; 1: tampered (the first bad entry is named); 2: cannot verify.")
    public static final class Verify implements Callable<Integer> {
        @Option(names = "--data", description = "The node's data directory (its embedded database, audit key and anchor)")
        Path data;

        @Option(names = "--db", description = "JDBC URL of the database to verify (default: the embedded database in --data)")
        String db;

        @Option(names = "--public-key", description = "Audit public key file (default: <data>/pki/audit-signing.pub)")
        Path publicKey;

        @Override
        public Integer call() {
            if (data == null && db == null) {
                System.err.println("bulwark audit verify: give --data DIR, or --db URL with --public-key FILE");
                return 2;
            }
            Path keyFile = publicKey != null ? publicKey : data == null ? null : data.resolve("pki/audit-signing.pub");
            if (keyFile == null || !Files.exists(keyFile)) {
                System.err.println("bulwark audit verify: the audit public key is needed (--public-key FILE or --data DIR)");
                return 2;
            }
            if (data != null && !Files.isDirectory(data)) {
                System.err.println("bulwark audit verify: no data directory at " + data);
                return 2;
            }
            DataDir dataDir = data == null ? null : new DataDir(data);
            AuditSigner.AuditVerifyKey key = AuditSigner.AuditVerifyKey.load(keyFile);
            Path anchor = data == null ? null : data.resolve("audit/anchor");
            Database database;
            try {
                database = Database.open(db, dataDir);
            } catch (RuntimeException e) {
                String why = String.valueOf(e.getMessage());
                System.err.println("bulwark audit verify: cannot open the database"
                        + (why.contains("already in use") ? ": the embedded database is held by a running node; stop it first" : ""));
                return 2;
            }
            try (database) {
                AuditVerifier.Result result = database.read(h -> new AuditVerifier(key, anchor).verify(h));
                System.out.println(result.describe());
                return result.ok() ? 0 : 1;
            }
        }
    }
}
