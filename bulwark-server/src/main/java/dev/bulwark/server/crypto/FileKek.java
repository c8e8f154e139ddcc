package dev.bulwark.server.crypto;

import dev.bulwark.server.config.DataDir;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.ByteBuffer;
import java.nio.file.Files;
import java.nio.file.Path;
import java.security.GeneralSecurityException;
import java.util.Arrays;
import javax.crypto.Cipher;
import javax.crypto.spec.GCMParameterSpec;
import javax.crypto.spec.SecretKeySpec;

/**
 * The embedded key-encryption key: 256 random bits in {@code <data>/keys/kek} (mode 0600, created on first
 * start, never in the database). Wrapping is AES-256-GCM with a random 96-bit nonce; the caller's
 * {@code context} (e.g. the image id) is bound as associated data, so a wrapped key moved to another row
 * does not unwrap. Layout: {@code version(1) | nonce(12) | ciphertext+tag(48)}.
 */
public final class FileKek implements KeyWrapper {
    private static final byte VERSION = 1;
    private final byte[] key;

    private FileKek(byte[] key) {
        this.key = key;
    }

    public static FileKek loadOrCreate(DataDir dataDir) {
        Path f = dataDir.dir("keys").resolve("kek");
        try {
            if (!Files.exists(f)) {
                DataDir.writeSecret(f, Secrets.randomBytes(32));
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
