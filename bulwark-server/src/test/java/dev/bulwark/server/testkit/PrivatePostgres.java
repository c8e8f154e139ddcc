package dev.bulwark.server.testkit;

import java.io.IOException;
import java.io.UncheckedIOException;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.net.ServerSocket;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.attribute.PosixFilePermissions;
import java.nio.file.attribute.UserPrincipalLookupService;
import java.sql.Connection;
import java.sql.DriverManager;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.List;
import java.util.concurrent.TimeUnit;
import java.util.stream.Stream;
import org.junit.jupiter.api.Assertions;

/**
 * A PostgreSQL server of one test's own, for tests that stop or crash the database: the machine's shared
 * server on :5432 serves every other test and is never touched. The server is the Debian binaries
 * ({@code /usr/lib/postgresql/<version>/bin}: {@code initdb}, {@code pg_ctl}), a cluster made in a temporary
 * directory, listening on an ephemeral port of 127.0.0.1 only (its Unix socket in that directory too), trust
 * authentication for the {@code postgres} user. PostgreSQL refuses to run as root: when the tests run as root
 * every command runs as the {@code postgres} user ({@code runuser}), which owns the directory.
 *
 * <p>{@link #restart(boolean)} stops the server, cleanly or as a crash ({@code pg_ctl stop -m immediate}: no
 * checkpoint, recovery from the WAL at the next start), and starts it on the same port and data.
 *
 * <p>When the binaries are missing the test <b>fails</b>, never skips.
 */
public final class PrivatePostgres implements AutoCloseable {
    private static final Duration READY = Duration.ofSeconds(30);

    private final Path bin;
    private final Path dir;
    private final Path data;
    private final boolean asPostgresUser;
    private int port;
    private boolean running;

    private PrivatePostgres(Path bin, Path dir, boolean asPostgresUser) {
        this.bin = bin;
        this.dir = dir;
        this.data = dir.resolve("data");
        this.asPostgresUser = asPostgresUser;
    }

    /** Makes a new cluster in a temporary directory and starts it on a free port. */
    public static PrivatePostgres start() {
        Path bin = binaries();
        boolean root = "root".equals(System.getProperty("user.name"));
        PrivatePostgres pg;
        try {
            Path dir = Files.createTempDirectory("bulwark-pg-");
            if (root) {
                UserPrincipalLookupService users = dir.getFileSystem().getUserPrincipalLookupService();
                Files.setOwner(dir, users.lookupPrincipalByName("postgres"));
                Files.setPosixFilePermissions(dir, PosixFilePermissions.fromString("rwx------"));
            }
            pg = new PrivatePostgres(bin, dir, root);
        } catch (IOException e) {
            throw unavailable("cannot prepare a directory for it: " + e);
        }
        try {
            pg.run(List.of(bin.resolve("initdb").toString(), "-D", pg.data.toString(), "-U", "postgres", "-A", "trust",
                    "-E", "UTF8", "--no-sync", "--no-instructions"), Duration.ofSeconds(60));
            for (int attempt = 1; ; attempt++) {
                pg.port = freePort();
                try {
                    pg.startServer();
                    return pg;
                } catch (IllegalStateException e) {
                    if (attempt == 3) {
                        throw e;
                    }
                }
            }
        } catch (RuntimeException e) {
            pg.close();
            throw unavailable(e.getMessage());
        }
    }

    /** The JDBC URL of the {@code postgres} database as the {@code postgres} user. */
    public String url() {
        return "jdbc:postgresql://127.0.0.1:" + port + "/postgres?user=postgres";
    }

    public int port() {
        return port;
    }

    public synchronized boolean isRunning() {
        return running;
    }

    /** Stops the server: {@code crash} as a killed server would ({@code -m immediate}), else cleanly ({@code -m fast}). */
    public synchronized void stop(boolean crash) {
        if (!running) {
            return;
        }
        running = false;
        run(List.of(bin.resolve("pg_ctl").toString(), "-D", data.toString(), "-m", crash ? "immediate" : "fast", "-w", "-t", "30", "stop"),
                Duration.ofSeconds(40));
    }

    /** Starts the server again on the same port and data (after {@link #stop}). */
    public synchronized void startAgain() {
        if (!running) {
            startServer();
        }
    }

    /** Stops the server and starts it again on the same port and data. */
    public synchronized void restart(boolean crash) {
        stop(crash);
        startServer();
    }

    private void startServer() {
        String options = "-p " + port + " -c listen_addresses=127.0.0.1 -k " + dir + " -c fsync=off -c max_connections=100"
                + " -c shared_buffers=32MB";
        run(List.of(bin.resolve("pg_ctl").toString(), "-D", data.toString(), "-l", dir.resolve("server.log").toString(), "-o", options,
                "-w", "-t", "30", "start"), Duration.ofSeconds(40));
        running = true;
        long deadline = System.nanoTime() + READY.toNanos();
        while (true) {
            try (Connection c = DriverManager.getConnection(url())) {
                if (c.isValid(2)) {
                    return;
                }
            } catch (java.sql.SQLException e) {
                if (System.nanoTime() > deadline) {
                    throw new IllegalStateException("the private PostgreSQL on port " + port + " does not answer: " + e.getMessage());
                }
            }
            java.util.concurrent.locks.LockSupport.parkNanos(50_000_000L);
        }
    }

    /** Stops the server (as a crash: nothing of it is needed) and deletes its directory. */
    @Override
    public synchronized void close() {
        try {
            stop(true);
        } catch (RuntimeException e) {
            // already stopped
        }
        try (Stream<Path> files = Files.walk(dir)) {
            for (Path f : files.sorted(Comparator.reverseOrder()).toList()) {
                Files.deleteIfExists(f);
            }
        } catch (IOException e) {
            // best effort: a leftover temporary directory does not affect other tests
        }
    }

    private void run(List<String> command, Duration timeout) {
        List<String> cmd = new ArrayList<>();
        if (asPostgresUser) {
            cmd.addAll(List.of("runuser", "-u", "postgres", "--"));
        }
        cmd.addAll(command);
        Path out = dir.resolve("command.out");
        try {
            Process p = new ProcessBuilder(cmd).directory(dir.toFile()).redirectErrorStream(true).redirectOutput(out.toFile()).start();
            if (!p.waitFor(timeout.toMillis(), TimeUnit.MILLISECONDS)) {
                p.destroyForcibly();
                throw new IllegalStateException(command.get(0) + " did not finish within " + timeout);
            }
            if (p.exitValue() != 0) {
                throw new IllegalStateException(Path.of(command.get(0)).getFileName() + " " + command.get(command.size() - 1)
                        + " failed (exit " + p.exitValue() + "): " + tail(out));
            }
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new IllegalStateException("interrupted", e);
        }
    }

    private static String tail(Path file) {
        try {
            String s = Files.readString(file);
            return s.length() > 2000 ? s.substring(s.length() - 2000) : s;
        } catch (IOException e) {
            return "(no output)";
        }
    }

    /** The bin directory of the newest PostgreSQL installed, e.g. {@code /usr/lib/postgresql/15/bin}. */
    private static Path binaries() {
        Path root = Path.of("/usr/lib/postgresql");
        if (Files.isDirectory(root)) {
            try (Stream<Path> versions = Files.list(root)) {
                Path bin = versions.map(v -> v.resolve("bin")).filter(b -> Files.isExecutable(b.resolve("initdb"))
                                && Files.isExecutable(b.resolve("pg_ctl")))
                        .max(Comparator.comparingInt(PrivatePostgres::major)).orElse(null);
                if (bin != null) {
                    return bin;
                }
            } catch (IOException e) {
                // fall through: unavailable
            }
        }
        throw unavailable("no initdb and pg_ctl under /usr/lib/postgresql/*/bin (apt-get install postgresql)");
    }

    private static int major(Path bin) {
        try {
            return Integer.parseInt(bin.getParent().getFileName().toString().replaceAll("\\D.*", ""));
        } catch (NumberFormatException e) {
            return 0;
        }
    }

    private static int freePort() {
        try (ServerSocket s = new ServerSocket()) {
            s.bind(new InetSocketAddress(InetAddress.getByName("127.0.0.1"), 0));
            return s.getLocalPort();
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }

    private static RuntimeException unavailable(String why) {
        String msg = "a private PostgreSQL server could not be started: " + why;
        Assertions.fail(msg); // never skipped: a PostgreSQL test that cannot run fails
        return new IllegalStateException(msg);
    }
}
