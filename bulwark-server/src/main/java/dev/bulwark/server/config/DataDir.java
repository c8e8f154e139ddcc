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

    public DataDir(Path root) {
        this.root = root.toAbsolutePath().normalize();
        dir(this.root);
    }

    public Path root() {
        return root;
    }

    /** A sub-directory, created owner-only if missing. */
    public Path dir(String relative) {
        return dir(root.resolve(relative));
    }

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
