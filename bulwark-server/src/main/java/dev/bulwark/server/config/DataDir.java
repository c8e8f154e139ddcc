package dev.bulwark.server.config;

import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.FileAlreadyExistsException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.nio.file.StandardOpenOption;
import java.nio.file.attribute.PosixFilePermission;
import java.nio.file.attribute.PosixFilePermissions;
import java.util.Set;

/**
 * The node's data directory. Every directory is created {@code rwx------} and every file that holds a
 * key, token or database is created {@code rw-------} from the start (never created wider and narrowed
 * afterwards, which would leave a window).
 */
public final class DataDir {
    private static final Set<PosixFilePermission> OWNER_DIR = PosixFilePermissions.fromString("rwx------");
    private static final Set<PosixFilePermission> OWNER_FILE = PosixFilePermissions.fromString("rw-------");

    private final Path root;
    private final String node;

    public DataDir(Path root) {
        this(root, null);
    }

    /**
     * The data directory of a node of a cluster: the nodes share one directory (on one machine, or a shared
     * volume) for the key material every node needs (platform CA, KEK, data keys, audit signing key, firmware
     * images), and each keeps its own files under {@code nodes/<node>/} ({@link #nodeDir}).
     */
    public DataDir(Path root, String node) {
        this.root = root.toAbsolutePath().normalize();
        this.node = node;
        dir(this.root);
    }

    public Path root() {
        return root;
    }

    /** A sub-directory, created owner-only if missing. */
    public Path dir(String relative) {
        return dir(root.resolve(relative));
    }

    /**
     * A directory of this node's own (run state, its security event log): {@code <data>/<relative>} for a
     * standalone node, {@code <data>/nodes/<node>/<relative>} for a node of a cluster.
     */
    public Path nodeDir(String relative) {
        return node == null ? dir(relative) : dir("nodes/" + node + "/" + relative);
    }

    /**
     * Holds an exclusive lock on the data directory while a node creates or loads the files it shares with the
     * others (two nodes starting at once must not both create a platform CA); release it by closing.
     */
    public AutoCloseable initLock() {
        // file locks are held per process: nodes in one process (tests) are ordered by an in-process lock first
        java.util.concurrent.locks.ReentrantLock local = IN_PROCESS.computeIfAbsent(root, r -> new java.util.concurrent.locks.ReentrantLock());
        local.lock();
        try {
            java.nio.channels.FileChannel ch = java.nio.channels.FileChannel.open(root.resolve(".init.lock"),
                    java.nio.file.StandardOpenOption.CREATE, java.nio.file.StandardOpenOption.WRITE);
            java.nio.channels.FileLock lock = ch.lock();
            boolean[] released = new boolean[1];
            return () -> {
                synchronized (released) {
                    if (!released[0]) {
                        released[0] = true;
                        try {
                            lock.release();
                            ch.close();
                        } finally {
                            local.unlock();
                        }
                    }
                }
            };
        } catch (IOException | RuntimeException e) {
            local.unlock();
            throw new UncheckedIOException("cannot lock " + root.resolve(".init.lock"),
                    e instanceof IOException io ? io : new IOException(e.getMessage()));
        }
    }

    private static final java.util.Map<Path, java.util.concurrent.locks.ReentrantLock> IN_PROCESS = new java.util.concurrent.ConcurrentHashMap<>();

    public Path file(String relative) {
        return root.resolve(relative);
    }

    private static Path dir(Path p) {
        try {
            if (!Files.isDirectory(p)) {
                Files.createDirectories(p, PosixFilePermissions.asFileAttribute(OWNER_DIR));
            }
            Files.setPosixFilePermissions(p, OWNER_DIR);
            return p;
        } catch (IOException e) {
            throw new UncheckedIOException("cannot create directory " + p, e);
        }
    }

    /**
     * Writes a secret file readable by its owner only, replacing it atomically. The content never
     * exists on disk with wider permissions.
     */
    public static void writeSecret(Path file, String content) {
        writeSecret(file, content.getBytes(StandardCharsets.UTF_8));
    }

    public static void writeSecret(Path file, byte[] content) {
        try {
            dir(file.getParent());
            Path tmp = file.resolveSibling(file.getFileName() + ".tmp");
            Files.deleteIfExists(tmp);
            Files.createFile(tmp, PosixFilePermissions.asFileAttribute(OWNER_FILE));
            Files.write(tmp, content, StandardOpenOption.WRITE, StandardOpenOption.TRUNCATE_EXISTING);
            Files.move(tmp, file, StandardCopyOption.REPLACE_EXISTING, StandardCopyOption.ATOMIC_MOVE);
        } catch (IOException e) {
            throw new UncheckedIOException("cannot write " + file.getFileName(), e);
        }
    }

    /** Writes a secret file only if it does not exist yet; returns false when it already existed. */
    public static boolean createSecret(Path file, String content) {
        try {
            dir(file.getParent());
            Files.createFile(file, PosixFilePermissions.asFileAttribute(OWNER_FILE));
        } catch (FileAlreadyExistsException e) {
            return false;
        } catch (IOException e) {
            throw new UncheckedIOException("cannot create " + file.getFileName(), e);
        }
        try {
            Files.writeString(file, content, StandardOpenOption.WRITE, StandardOpenOption.TRUNCATE_EXISTING);
            return true;
        } catch (IOException e) {
            throw new UncheckedIOException("cannot write " + file.getFileName(), e);
        }
    }

    /** Writes a public (non-secret) file, e.g. a CA certificate, readable by everyone. */
    public static void writePublic(Path file, String content) {
        try {
            dir(file.getParent());
            Path tmp = file.resolveSibling(file.getFileName() + ".tmp");
            Files.writeString(tmp, content);
            Files.setPosixFilePermissions(tmp, PosixFilePermissions.fromString("rw-r--r--"));
            Files.move(tmp, file, StandardCopyOption.REPLACE_EXISTING, StandardCopyOption.ATOMIC_MOVE);
        } catch (IOException e) {
            throw new UncheckedIOException("cannot write " + file.getFileName(), e);
        }
    }

    public static String read(Path file) {
        try {
            return Files.readString(file);
        } catch (IOException e) {
            throw new UncheckedIOException("cannot read " + file, e);
        }
    }
}
