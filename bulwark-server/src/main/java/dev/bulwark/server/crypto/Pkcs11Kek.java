package dev.bulwark.server.crypto;

import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.ByteBuffer;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.security.GeneralSecurityException;
import java.security.Key;
import java.security.KeyStore;
import java.security.Provider;
import java.security.ProviderException;
import java.security.Security;
import java.util.Arrays;
import javax.crypto.Cipher;
import javax.crypto.KeyGenerator;
import javax.crypto.SecretKey;
import javax.crypto.spec.GCMParameterSpec;

/**
 * A key-encryption key that never leaves a PKCS#11 token (an HSM; SoftHSM2 in tests), used through the JDK's own
 * {@code SunPKCS11} provider. The key is an AES-256 token object labelled {@code label}, generated on the token on
 * first start as sensitive and non-extractable (the node adds those attributes to the operator's provider
 * configuration, so a configuration cannot weaken them); data keys are encrypted and decrypted by the token with
 * AES-256-GCM, the caller's context bound as associated data. Layout of a wrapped key:
 * {@code version(1)=2 | nonce(12) | ciphertext+tag(48)}; version 1 is {@link FileKek}'s, so a data key wrapped by
 * one is refused by the other with a clear reason rather than garbage.
 *
 * <p>Trust boundary: the host sees data keys in clear (it encrypts payloads with them in software); what the token
 * protects is the KEK, so a copy of the data directory or the database, without the token, opens nothing.
 */
public final class Pkcs11Kek implements KeyWrapper {
    static final byte VERSION = 2;
    /** Appended to the operator's configuration: every AES key the provider makes is sensitive and stays on the token. */
    private static final String ATTRIBUTES = """

            attributes(*, CKO_SECRET_KEY, CKK_AES) = {
              CKA_SENSITIVE = true
              CKA_EXTRACTABLE = false
            }
            """;
    private final Provider provider;
    private final Key key;

    private Pkcs11Kek(Provider provider, Key key) {
        this.provider = provider;
        this.key = key;
    }

    /**
     * Logs in to the token named by the SunPKCS11 configuration {@code providerConfig} and finds the key
     * {@code label}, generating it on the token when absent and {@code mayCreate}.
     *
     * @param pin the user PIN; wiped before this returns
     * @throws IllegalStateException with the reason: unreadable configuration, library or token not found, login
     *                               refused, key missing while data keys exist, or a key whose value the host can read
     */
    public static Pkcs11Kek open(Path providerConfig, char[] pin, String label, boolean mayCreate) {
        String config;
        try {
            config = Files.readString(providerConfig, StandardCharsets.UTF_8);
        } catch (IOException e) {
            throw new UncheckedIOException("cannot read the PKCS#11 provider configuration " + providerConfig, e);
        }
        Provider provider;
        try {
            Provider base = Security.getProvider("SunPKCS11");
            if (base == null) {
                throw new IllegalStateException("this JDK has no SunPKCS11 provider");
            }
            provider = base.configure("--" + config + ATTRIBUTES);
        } catch (ProviderException | IllegalArgumentException e) {
            throw new IllegalStateException("cannot load the PKCS#11 token of " + providerConfig + ": " + rootMessage(e));
        }
        try {
            KeyStore ks = KeyStore.getInstance("PKCS11", provider);
            try {
                ks.load(null, pin);
            } catch (IOException e) {
                throw new IllegalStateException("cannot log in to the PKCS#11 token of " + providerConfig + " (wrong PIN?): " + rootMessage(e));
            }
            Key key = ks.getKey(label, null);
            if (key == null) {
                if (!mayCreate) {
                    throw new IllegalStateException("the PKCS#11 token of " + providerConfig + " holds no key labelled '" + label
                            + "', but the data directory holds data keys wrapped by a key-encryption key: refusing to create a new one "
                            + "(those keys would never open again)");
                }
                KeyGenerator g = KeyGenerator.getInstance("AES", provider);
                g.init(256);
                SecretKey session = g.generateKey();
                ks.setEntry(label, new KeyStore.SecretKeyEntry(session), null); // copied to the token as a token object
                key = ks.getKey(label, null);
            }
            if (key == null || !"AES".equals(key.getAlgorithm())) {
                throw new IllegalStateException("the PKCS#11 key '" + label + "' is not an AES key");
            }
            if (key.getEncoded() != null || !String.valueOf(key).contains("unextractable")) {
                throw new IllegalStateException("the PKCS#11 key '" + label + "' can be read or exported from the token; a key-encryption "
                        + "key must be sensitive and non-extractable");
            }
            Pkcs11Kek kek = new Pkcs11Kek(provider, key);
            byte[] probe = Secrets.randomBytes(32);
            if (!Arrays.equals(probe, kek.unwrap(kek.wrap(probe, new byte[0]), new byte[0]))) {
                throw new IllegalStateException("the PKCS#11 token did not decrypt what it encrypted");
            }
            return kek;
        } catch (GeneralSecurityException e) {
            throw new IllegalStateException("the PKCS#11 token of " + providerConfig + " refused: " + rootMessage(e));
        } finally {
            if (pin != null) {
                Arrays.fill(pin, '\0');
            }
        }
    }

    @Override
    public byte[] wrap(byte[] dataKey, byte[] context) {
        byte[] nonce = Secrets.randomBytes(12);
        try {
            Cipher c = Cipher.getInstance("AES/GCM/NoPadding", provider);
            c.init(Cipher.ENCRYPT_MODE, key, new GCMParameterSpec(128, nonce));
            c.updateAAD(context);
            byte[] ct = c.doFinal(dataKey);
            return ByteBuffer.allocate(1 + 12 + ct.length).put(VERSION).put(nonce).put(ct).array();
        } catch (GeneralSecurityException e) {
            throw new IllegalStateException("the PKCS#11 token could not wrap a data key: " + rootMessage(e));
        }
    }

    @Override
    public byte[] unwrap(byte[] wrapped, byte[] context) {
        if (wrapped == null || wrapped.length < 1 + 12 + 16 || wrapped[0] != VERSION) {
            throw new IllegalStateException("not a wrapped key of this key-encryption key (PKCS#11)");
        }
        try {
            Cipher c = Cipher.getInstance("AES/GCM/NoPadding", provider);
            c.init(Cipher.DECRYPT_MODE, key, new GCMParameterSpec(128, wrapped, 1, 12));
            c.updateAAD(context);
            return c.doFinal(wrapped, 13, wrapped.length - 13);
        } catch (GeneralSecurityException e) {
            throw new IllegalStateException("decryption failed: the wrapped key or its context was altered");
        }
    }

    private static String rootMessage(Throwable t) {
        Throwable r = t;
        while (r.getCause() != null && r.getCause() != r) {
            r = r.getCause();
        }
        return r == t ? String.valueOf(t.getMessage()) : t.getMessage() + " (" + r + ")";
    }
}
