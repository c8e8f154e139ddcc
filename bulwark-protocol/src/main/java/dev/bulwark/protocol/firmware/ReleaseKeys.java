package dev.bulwark.protocol.firmware;

import java.security.GeneralSecurityException;
import java.security.KeyFactory;
import java.security.KeyPair;
import java.security.KeyPairGenerator;
import java.security.MessageDigest;
import java.security.PrivateKey;
import java.security.PublicKey;
import java.security.Signature;
import java.security.spec.PKCS8EncodedKeySpec;
import java.security.spec.X509EncodedKeySpec;
import java.util.Arrays;
import java.util.HexFormat;

/**
 * Ed25519 keys of the firmware metadata (JDK implementation). A public key travels as its 32 raw bytes
 * (base64); its id is the first 16 bytes of SHA-256 over those bytes, in hex.
 */
public final class ReleaseKeys {
    /** The fixed DER prefix of an Ed25519 SubjectPublicKeyInfo, before the 32 key bytes. */
    private static final byte[] SPKI_PREFIX = HexFormat.of().parseHex("302a300506032b6570032100");

    private ReleaseKeys() {
    }

    public static KeyPair generate() {
        try {
            return KeyPairGenerator.getInstance("Ed25519").generateKeyPair();
        } catch (GeneralSecurityException e) {
            throw new IllegalStateException("this JVM has no Ed25519", e);
        }
    }

    public static byte[] raw(PublicKey key) {
        byte[] der = key.getEncoded();
        if (der.length != 44 || !Arrays.equals(Arrays.copyOf(der, 12), SPKI_PREFIX)) {
            throw new FirmwareRejected("malformed", "not an Ed25519 public key");
        }
        return Arrays.copyOfRange(der, 12, 44);
    }

    public static PublicKey fromRaw(byte[] raw) {
        if (raw == null || raw.length != 32) {
            throw new FirmwareRejected("malformed", "an Ed25519 public key has 32 bytes");
        }
        byte[] der = new byte[44];
        System.arraycopy(SPKI_PREFIX, 0, der, 0, 12);
        System.arraycopy(raw, 0, der, 12, 32);
        try {
            return KeyFactory.getInstance("Ed25519").generatePublic(new X509EncodedKeySpec(der));
        } catch (GeneralSecurityException e) {
            throw new FirmwareRejected("malformed", "invalid Ed25519 public key");
        }
    }

    public static PrivateKey privateFromPkcs8(byte[] der) {
        try {
            return KeyFactory.getInstance("Ed25519").generatePrivate(new PKCS8EncodedKeySpec(der));
        } catch (GeneralSecurityException e) {
            throw new IllegalArgumentException("not an Ed25519 private key (PKCS#8)");
        }
    }

    public static PublicKey publicFromX509(byte[] der) {
        try {
            return KeyFactory.getInstance("Ed25519").generatePublic(new X509EncodedKeySpec(der));
        } catch (GeneralSecurityException e) {
            throw new IllegalArgumentException("not an Ed25519 public key");
        }
    }

    public static String keyId(PublicKey key) {
        return keyId(raw(key));
    }

    public static String keyId(byte[] raw) {
        try {
            return HexFormat.of().formatHex(MessageDigest.getInstance("SHA-256").digest(raw), 0, 16);
        } catch (GeneralSecurityException e) {
            throw new IllegalStateException(e);
        }
    }

    public static byte[] sign(PrivateKey key, byte[] message) {
        try {
            Signature s = Signature.getInstance("Ed25519");
            s.initSign(key);
            s.update(message);
            return s.sign();
        } catch (GeneralSecurityException e) {
            throw new IllegalStateException("cannot sign", e);
        }
    }

    public static boolean verify(PublicKey key, byte[] message, byte[] signature) {
        try {
            Signature s = Signature.getInstance("Ed25519");
            s.initVerify(key);
            s.update(message);
            return s.verify(signature);
        } catch (GeneralSecurityException e) {
            return false;
        }
    }

    public static String sha256Hex(byte[] data) {
        try {
            return HexFormat.of().formatHex(MessageDigest.getInstance("SHA-256").digest(data));
        } catch (GeneralSecurityException e) {
            throw new IllegalStateException(e);
        }
    }
}
