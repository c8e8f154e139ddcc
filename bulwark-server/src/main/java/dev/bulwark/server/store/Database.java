package dev.bulwark.server.store;

import com.zaxxer.hikari.HikariConfig;
import com.zaxxer.hikari.HikariDataSource;
import dev.bulwark.server.config.DataDir;
import dev.bulwark.server.crypto.Secrets;
import java.nio.file.Files;
import java.nio.file.Path;
import org.flywaydb.core.Flyway;
import org.jdbi.v3.core.Handle;
import org.jdbi.v3.core.HandleCallback;
import org.jdbi.v3.core.Jdbi;
import org.jdbi.v3.core.transaction.TransactionIsolationLevel;

/**
 * The relational store: a pooled {@link javax.sql.DataSource}, Flyway migrations and JDBI. The same
 * migrations run on the embedded H2 database and on PostgreSQL; statements that must differ between
 * the two live in {@link Dialect}.
 */
public final class Database implements AutoCloseable {
    private final HikariDataSource dataSource;
    private final Jdbi jdbi;
    private final Dialect dialect;

    private Database(HikariDataSource dataSource, Dialect dialect) {
        this.dataSource = dataSource;
        this.dialect = dialect;
        this.jdbi = Jdbi.create(dataSource);
    }

    /**
     * Opens the database named by {@code url}, or the embedded H2 database in {@code dataDir} when
     * {@code url} is null, and migrates it to the current schema.
     *
     * <p>The embedded database gets a random password on first use, kept in {@code db/credentials}
     * (owner-only), so the file cannot be opened by another local user through H2's own tooling
     * without reading that file first. {@code WRITE_DELAY=0} makes H2 write every commit to its file before
     * the commit returns (its default delays that by 500 ms, and a killed process would lose transactions
     * that were already acknowledged).
     */
    public static Database open(String url, DataDir dataDir) {
        HikariConfig hc = new HikariConfig();
        Dialect dialect;
        if (url == null) {
            Path dbDir = dataDir.dir("db");
            Path credentials = dbDir.resolve("credentials");
            if (!Files.exists(credentials)) {
                DataDir.createSecret(credentials, Secrets.randomHex(24));
            }
            hc.setJdbcUrl("jdbc:h2:file:" + dbDir.resolve("bulwark").toAbsolutePath()
                    + ";DB_CLOSE_ON_EXIT=FALSE;LOCK_TIMEOUT=10000;WRITE_DELAY=0");
            hc.setUsername("bulwark");
            hc.setPassword(DataDir.read(credentials).trim());
            dialect = Dialect.H2;
        } else if (url.startsWith("jdbc:postgresql:")) {
            hc.setJdbcUrl(url);
            // group commits are JDBC batches: let the driver send each as multi-row INSERTs
            hc.addDataSourceProperty("reWriteBatchedInserts", "true");
            dialect = Dialect.POSTGRESQL;
        } else if (url.startsWith("jdbc:h2:")) {
            hc.setJdbcUrl(url);
            dialect = Dialect.H2;
        } else {
            throw new IllegalArgumentException("unsupported database URL: only jdbc:postgresql: and jdbc:h2: are supported");
        }
        hc.setMaximumPoolSize(10);
        // a database that does not answer fails a request within 10 s (back-pressure), not the pool's default 30 s
        hc.setConnectionTimeout(10_000);
        hc.setPoolName("bulwark-db");
        hc.setAutoCommit(true);
        hc.setTransactionIsolation("TRANSACTION_READ_COMMITTED");
        HikariDataSource ds = new HikariDataSource(hc);
        try {
            Flyway.configure()
                    .dataSource(ds)
                    .locations("classpath:db/migration/common", "classpath:db/migration/" + dialect.folder())
                    .validateMigrationNaming(true)
                    .load()
                    .migrate();
        } catch (RuntimeException e) {
            ds.close();
            throw e;
        }
        return new Database(ds, dialect);
    }

    public Jdbi jdbi() {
        return jdbi;
    }

    public Dialect dialect() {
        return dialect;
    }

    /** Runs {@code work} in one READ COMMITTED transaction. */
    public <R, X extends Exception> R tx(HandleCallback<R, X> work) throws X {
        return jdbi.inTransaction(TransactionIsolationLevel.READ_COMMITTED, work);
    }

    /** Runs {@code work} on a handle in auto-commit mode (reads). */
    public <R, X extends Exception> R read(HandleCallback<R, X> work) throws X {
        return jdbi.withHandle(work);
    }

    private final Object syncLock = new Object();
    private long syncRequested;
    private long syncCompleted;
    private boolean syncRunning;
    private final java.util.concurrent.atomic.AtomicLong syncs = new java.util.concurrent.atomic.AtomicLong();

    /** How many syncs {@link #syncCommitted()} ran (H2), each covering every caller waiting for it. */
    public long syncs() {
        return syncs.get();
    }

    /**
     * Returns once everything this thread committed before the call is on disk. PostgreSQL's commit is
     * already durable, so this returns at once; H2 writes a commit to its file ({@code WRITE_DELAY=0}) but
     * syncs it only at a checkpoint, so this runs {@code CHECKPOINT SYNC}, one for every caller waiting
     * meanwhile (a group sync, never one per caller under load). Blocking: call it on a worker thread.
     */
    public void syncCommitted() {
        if (dialect != Dialect.H2) {
            return;
        }
        long ticket;
        synchronized (syncLock) {
            ticket = ++syncRequested;
        }
        while (true) {
            long covers;
            synchronized (syncLock) {
                while (syncRunning && syncCompleted < ticket) {
                    try {
                        syncLock.wait();
                    } catch (InterruptedException e) {
                        Thread.currentThread().interrupt();
                        throw new IllegalStateException("interrupted while waiting for the database to sync");
                    }
                }
                if (syncCompleted >= ticket) {
                    return;
                }
                syncRunning = true;
                covers = syncRequested; // every ticket taken so far committed before it was taken
            }
            boolean ok = false;
            try {
                read(h -> h.execute("CHECKPOINT SYNC"));
                syncs.incrementAndGet();
                ok = true;
            } finally {
                synchronized (syncLock) {
                    syncRunning = false;
                    if (ok) {
                        syncCompleted = Math.max(syncCompleted, covers);
                    }
                    syncLock.notifyAll();
                }
            }
        }
    }

    public Handle open() {
        return jdbi.open();
    }

    @Override
    public void close() {
        dataSource.close();
    }
}
