package dev.bulwark.server.crypto;

import dev.bulwark.server.config.DataDir;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.ByteBuffer;
import java.nio.channels.FileChannel;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.nio.file.attribute.PosixFilePermission;
import java.nio.file.attribute.PosixFilePermissions;
import java.security.GeneralSecurityException;
import java.util.Arrays;
import java.util.EnumSet;
import java.util.Set;
import javax.crypto.Cipher;
import javax.crypto.spec.GCMParameterSpec;
import javax.crypto.spec.SecretKeySpec;

/**
 * A key-encryption key held in a file: 256 random bits, mode 0600, never in the database. By default the file
 * is {@code <data>/keys/kek} (created on first start; a backup of the data directory then holds it too, see
 * {@link Keks}); with {@code --kek file:/path} it lives outside the data directory. Wrapping is AES-256-GCM with a random 96-bit nonce; the caller's
 * {@code context} (e.g. the image id) is bound as associated data, so a wrapped key moved to another row
 * does not unwrap. Layout: {@code version(1) | nonce(12) | ciphertext+tag(48)}.
 */
public final class FileKek implements KeyWrapper {
    private static final byte VERSION = 1;
    private final byte[] key;

    private FileKek(byte[] key) {
        this.key = key;
    }

    /** The key in {@code <data>/keys/kek}, created on first start (a backup of the data directory then holds it too). */
    public static FileKek loadOrCreate(DataDir dataDir) {
        Path f = dataDir.dir("keys").resolve("kek");
        if (!Files.exists(f)) {
            DataDir.writeSecret(f, Secrets.randomBytes(32));
        }
        return read(f);
    }

    /**
     * The key in {@code file}, outside the data directory: created owner-only ({@code rw-------}, never wider in
     * between) when absent and {@code mayCreate}; refused when group or others may read or write it.
     *
     * @throws IllegalStateException with the reason (and the fix) when the file is absent and may not be created,
     *                               has a wider mode, or does not hold exactly 32 bytes
     */
    public static FileKek loadOrCreate(Path file, boolean mayCreate) {
        Path f = file.toAbsolutePath().normalize();
        try {
            if (!Files.exists(f)) {
                if (!mayCreate) {
                    throw new IllegalStateException("the key-encryption key file " + f + " does not exist, but the data directory holds "
                            + "data keys wrapped by a key-encryption key: refusing to create a new one (those keys would never open "
                            + "again); restore the file");
                }
                if (f.getParent() == null || !Files.isDirectory(f.getParent())) {
                    throw new IllegalStateException("the directory of the key-encryption key file " + f + " does not exist");
                }
                Files.createFile(f, PosixFilePermissions.asFileAttribute(OWNER_ONLY));
                try (FileChannel ch = FileChannel.open(f, StandardOpenOption.WRITE)) {
                    ch.write(ByteBuffer.wrap(Secrets.randomBytes(32)));
                    ch.force(true);
                }
            }
        } catch (IOException e) {
            throw new UncheckedIOException("cannot create the key-encryption key file " + f, e);
        }
        return read(f);
    }

    private static final Set<PosixFilePermission> OWNER_ONLY = PosixFilePermissions.fromString("rw-------");

    private static FileKek read(Path f) {
        try {
            if (!Files.isRegularFile(f)) {
                throw new IllegalStateException("the key-encryption key " + f + " is not a regular file");
            }
            Set<PosixFilePermission> mode = Files.getPosixFilePermissions(f);
            Set<PosixFilePermission> wider = EnumSet.noneOf(PosixFilePermission.class);
            wider.addAll(mode);
            wider.removeAll(EnumSet.of(PosixFilePermission.OWNER_READ, PosixFilePermission.OWNER_WRITE));
            if (!wider.isEmpty()) {
                throw new IllegalStateException("the key-encryption key file " + f + " is readable or writable by group or others (mode "
                        + PosixFilePermissions.toString(mode) + "): refusing to use it; make it owner-only (chmod 600 " + f
                        + ") and treat the key as exposed");
            }
            byte[] k = Files.readAllBytes(f);
            if (k.length != 32) {
                throw new IllegalStateException(f + " must hold exactly 32 bytes");
            }
            return new FileKek(k);
        } catch (IOException e) {
            throw new UncheckedIOException("cannot read the key-encryption key", e);
        }
    }

    @Override
    public byte[] wrap(byte[] dataKey, byte[] context) {
        byte[] nonce = Secrets.randomBytes(12);
        byte[] ct = Aead.encrypt(key, nonce, dataKey, context);
        return ByteBuffer.allocate(1 + 12 + ct.length).put(VERSION).put(nonce).put(ct).array();
    }

    @Override
    public byte[] unwrap(byte[] wrapped, byte[] context) {
        if (wrapped == null || wrapped.length < 1 + 12 + 16 || wrapped[0] != VERSION) {
            throw new IllegalStateException("not a wrapped key of this key-encryption key");
        }
        return Aead.decrypt(key, Arrays.copyOfRange(wrapped, 1, 13), Arrays.copyOfRange(wrapped, 13, wrapped.length), context);
    }

    /** AES-256-GCM with a 128-bit tag. */
    public static final class Aead {
        private Aead() {
        }

        public static byte[] encrypt(byte[] key, byte[] nonce, byte[] plaintext, byte[] aad) {
            try {
                Cipher c = Cipher.getInstance("AES/GCM/NoPadding");
                c.init(Cipher.ENCRYPT_MODE, new SecretKeySpec(key, "AES"), new GCMParameterSpec(128, nonce));
                if (aad != null) {
                    c.updateAAD(aad);
                }
                return c.doFinal(plaintext);
            } catch (GeneralSecurityException e) {
                throw new IllegalStateException("AES-GCM encryption failed", e);
            }
        }

        public static byte[] decrypt(byte[] key, byte[] nonce, byte[] ciphertext, byte[] aad) {
            try {
                Cipher c = Cipher.getInstance("AES/GCM/NoPadding");
                c.init(Cipher.DECRYPT_MODE, new SecretKeySpec(key, "AES"), new GCMParameterSpec(128, nonce));
                if (aad != null) {
                    c.updateAAD(aad);
                }
                return c.doFinal(ciphertext);
            } catch (GeneralSecurityException e) {
                throw new IllegalStateException("decryption failed: the data or its context was altered");
            }
        }
    }
}
