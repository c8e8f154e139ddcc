package dev.bulwark.server.audit;

import dev.bulwark.server.config.DataDir;
import dev.bulwark.server.crypto.Secrets;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.security.GeneralSecurityException;
import java.security.KeyFactory;
import java.security.KeyPair;
import java.security.KeyPairGenerator;
import java.security.PrivateKey;
import java.security.PublicKey;
import java.security.Signature;
import java.security.spec.PKCS8EncodedKeySpec;
import java.security.spec.X509EncodedKeySpec;
import java.util.Base64;

/**
 * Signs audit checkpoints with the node's Ed25519 audit key. The private key lives only in the data
 * directory ({@code pki/audit-signing.key}, owner-only), never in the database, so an attacker who can
 * write to the database but not read the node's files cannot produce a valid checkpoint.
 */
public final class AuditSigner {
    private final PrivateKey privateKey;
    private final AuditVerifyKey verifyKey;

    private AuditSigner(PrivateKey privateKey, AuditVerifyKey verifyKey) {
        this.privateKey = privateKey;
        this.verifyKey = verifyKey;
    }

    /** Loads the audit key from the data directory, creating it on first use. */
    public static AuditSigner loadOrCreate(DataDir dataDir) {
        Path keyFile = dataDir.dir("pki").resolve("audit-signing.key");
        Path pubFile = dataDir.dir("pki").resolve("audit-signing.pub");
        try {
            if (!Files.exists(keyFile)) {
                KeyPair kp = KeyPairGenerator.getInstance("Ed25519").generateKeyPair();
                DataDir.writeSecret(keyFile, Base64.getEncoder().encodeToString(kp.getPrivate().getEncoded()) + "\n");
                DataDir.writePublic(pubFile, Base64.getEncoder().encodeToString(kp.getPublic().getEncoded()) + "\n");
            }
            KeyFactory kf = KeyFactory.getInstance("Ed25519");
            PrivateKey priv = kf.generatePrivate(new PKCS8EncodedKeySpec(
                    Base64.getDecoder().decode(DataDir.read(keyFile).trim())));
            return new AuditSigner(priv, AuditVerifyKey.load(pubFile));
        } catch (GeneralSecurityException e) {
            throw new IllegalStateException("cannot load the audit signing key", e);
        }
    }

    public String keyId() {
        return verifyKey.keyId();
    }

    public AuditVerifyKey verifyKey() {
        return verifyKey;
    }

    public String sign(long seq, String hash, long timeMs) {
        try {
            Signature s = Signature.getInstance("Ed25519");
            s.initSign(privateKey);
            s.update(AuditVerifyKey.checkpointMessage(seq, hash, timeMs));
            return Base64.getEncoder().encodeToString(s.sign());
        } catch (GeneralSecurityException e) {
            throw new IllegalStateException("cannot sign audit checkpoint", e);
        }
    }

    /** The public half, used by {@code bulwark audit verify}. */
    public record AuditVerifyKey(PublicKey publicKey, String keyId) {

        public static AuditVerifyKey load(Path pubFile) {
            try {
                byte[] der = Base64.getDecoder().decode(DataDir.read(pubFile).trim());
                PublicKey pk = KeyFactory.getInstance("Ed25519").generatePublic(new X509EncodedKeySpec(der));
                return new AuditVerifyKey(pk, Secrets.sha256Hex(der).substring(0, 16));
            } catch (GeneralSecurityException | IllegalArgumentException e) {
                throw new IllegalStateException("cannot read the audit public key " + pubFile, e);
            }
        }

        static byte[] checkpointMessage(long seq, String hash, long timeMs) {
            return ("bulwark-audit-checkpoint|" + seq + "|" + hash + "|" + timeMs).getBytes(StandardCharsets.UTF_8);
        }

        public boolean verify(long seq, String hash, long timeMs, String signatureB64) {
            try {
                Signature s = Signature.getInstance("Ed25519");
                s.initVerify(publicKey);
                s.update(checkpointMessage(seq, hash, timeMs));
                return s.verify(Base64.getDecoder().decode(signatureB64));
            } catch (GeneralSecurityException | IllegalArgumentException e) {
                return false;
            }
        }
    }
}
