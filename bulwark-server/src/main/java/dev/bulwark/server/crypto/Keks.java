package dev.bulwark.server.crypto;

import dev.bulwark.server.config.DataDir;
import dev.bulwark.server.config.KekSettings;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.attribute.PosixFilePermission;
import java.nio.file.attribute.PosixFilePermissions;
import java.util.Set;
import java.util.function.Function;
import java.util.stream.Stream;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Opens the node's key-encryption key where {@link KekSettings} says it lives, and says plainly at start when it
 * lives inside the data directory: a backup of that directory then holds the data keys and the key that opens them,
 * and deleting an owner no longer makes the backed-up data unreadable.
 *
 * <p>Refusals (thrown as {@link IllegalStateException} with the reason, so that the node does not start): a KEK
 * file wider than owner-only; a PIN file wider than owner-only or no PIN at all; an external KEK asked for on a data
 * directory whose data is wrapped by its own {@code keys/kek} (re-wrapping is not done); a missing KEK while data
 * keys exist (a new one would leave them unreadable), including a data directory without its own {@code keys/kek}
 * started without {@code --kek} (a copy of the data directory of a node whose KEK is kept elsewhere).
 */
public final class Keks {
    private static final Logger LOG = LoggerFactory.getLogger(Keks.class);
    /** What the node logs at start when the KEK is inside the data directory. */
    public static final String INSIDE_DATA_DIRECTORY_WARNING = "The key-encryption key is inside the data directory ({}): a backup or copy "
            + "of that directory holds the data keys AND the key that opens them, so it defeats crypto-shredding (data of deleted owners "
            + "stays readable from the backup). Keep the key outside: --kek file:/path/outside/the/data or --kek pkcs11:/path/provider.cfg "
            + "(see the README).";

    private Keks() {
    }

    public static KeyWrapper open(KekSettings settings, DataDir dataDir) {
        return open(settings, dataDir, System::getenv);
    }

    static KeyWrapper open(KekSettings settings, DataDir dataDir, Function<String, String> env) {
        Path inside = dataDir.root().resolve("keys").resolve("kek");
        switch (settings.source()) {
            case DATA_DIRECTORY -> {
                if (!Files.exists(inside) && hasDataKeys(dataDir)) {
                    throw new IllegalStateException("this data directory holds data keys but no key-encryption key in " + inside
                            + ": they were wrapped by a key kept outside it; start the node with the same --kek as before");
                }
                LOG.warn(INSIDE_DATA_DIRECTORY_WARNING, inside);
                return FileKek.loadOrCreate(dataDir);
            }
            case FILE -> {
                Path f = settings.path().toAbsolutePath().normalize();
                if (f.startsWith(dataDir.root())) {
                    LOG.warn(INSIDE_DATA_DIRECTORY_WARNING, f);
                } else {
                    refuseSwitch(inside, "file:" + f);
                }
                return FileKek.loadOrCreate(f, f.equals(inside) || !hasDataKeys(dataDir));
            }
            case PKCS11 -> {
                refuseSwitch(inside, "pkcs11:" + settings.path());
                Pkcs11Kek kek = Pkcs11Kek.open(settings.path(), pin(settings, env), settings.label(), !hasDataKeys(dataDir));
                LOG.info("key-encryption key: '{}' on the PKCS#11 token of {}", settings.label(), settings.path());
                return kek;
            }
            default -> throw new IllegalStateException("unknown key-encryption key source " + settings.source());
        }
    }

    private static void refuseSwitch(Path inside, String wanted) {
        if (Files.exists(inside)) {
            throw new IllegalStateException("this data directory's keys are wrapped by the key-encryption key in " + inside
                    + "; a node cannot switch it to --kek " + wanted + " (re-wrapping existing keys is not supported): start with a fresh "
                    + "data directory");
        }
    }

    private static boolean hasDataKeys(DataDir dataDir) {
        Path dir = dataDir.root().resolve("keys").resolve("data");
        if (!Files.isDirectory(dir)) {
            return false;
        }
        try (Stream<Path> files = Files.list(dir)) {
            return files.anyMatch(p -> p.getFileName().toString().startsWith("dk-"));
        } catch (IOException e) {
            throw new UncheckedIOException("cannot list " + dir, e);
        }
    }

    private static char[] pin(KekSettings s, Function<String, String> env) {
        if (s.pinFile() != null) {
            try {
                Set<PosixFilePermission> mode = Files.getPosixFilePermissions(s.pinFile());
                if (mode.stream().anyMatch(p -> p.name().startsWith("GROUP") || p.name().startsWith("OTHERS"))) {
                    throw new IllegalStateException("the PIN file " + s.pinFile() + " is readable or writable by group or others (mode "
                            + PosixFilePermissions.toString(mode) + "): make it owner-only (chmod 600 " + s.pinFile() + ")");
                }
                String pin = Files.readString(s.pinFile(), StandardCharsets.UTF_8).strip();
                if (pin.isEmpty()) {
                    throw new IllegalStateException("the PIN file " + s.pinFile() + " is empty");
                }
                return pin.toCharArray();
            } catch (IOException e) {
                throw new UncheckedIOException("cannot read the PIN file " + s.pinFile(), e);
            }
        }
        String pin = env.apply(s.pinEnv());
        if (pin == null || pin.isEmpty()) {
            throw new IllegalStateException("the PKCS#11 token needs its PIN: set the environment variable " + s.pinEnv()
                    + " or give --kek-pin-file (never on the command line)");
        }
        return pin.toCharArray();
    }
}
