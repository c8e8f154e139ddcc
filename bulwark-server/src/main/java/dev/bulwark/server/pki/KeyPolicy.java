package dev.bulwark.server.pki;

import dev.bulwark.server.core.Refusal;
import dev.bulwark.server.crypto.Secrets;
import java.security.PublicKey;
import java.security.interfaces.ECPublicKey;
import java.security.interfaces.RSAPublicKey;
import java.util.Set;
import org.bouncycastle.asn1.ASN1ObjectIdentifier;
import org.bouncycastle.asn1.nist.NISTObjectIdentifiers;
import org.bouncycastle.asn1.pkcs.PKCSObjectIdentifiers;
import org.bouncycastle.asn1.sec.SECObjectIdentifiers;
import org.bouncycastle.asn1.x509.AlgorithmIdentifier;
import org.bouncycastle.asn1.x509.SubjectPublicKeyInfo;
import org.bouncycastle.asn1.x9.X9ObjectIdentifiers;

/**
 * Which public keys and signature algorithms Bulwark accepts in device credentials and tenant CAs:
 * ECDSA on P-256 or P-384, RSA of 2048 bits or more; signatures with SHA-256 or stronger.
 */
public final class KeyPolicy {
    private static final Set<ASN1ObjectIdentifier> CURVES = Set.of(SECObjectIdentifiers.secp256r1, SECObjectIdentifiers.secp384r1);
    private static final Set<ASN1ObjectIdentifier> SIGNATURES = Set.of(
            X9ObjectIdentifiers.ecdsa_with_SHA256, X9ObjectIdentifiers.ecdsa_with_SHA384, X9ObjectIdentifiers.ecdsa_with_SHA512,
            PKCSObjectIdentifiers.sha256WithRSAEncryption, PKCSObjectIdentifiers.sha384WithRSAEncryption,
            PKCSObjectIdentifiers.sha512WithRSAEncryption, PKCSObjectIdentifiers.id_RSASSA_PSS,
            NISTObjectIdentifiers.id_ecdsa_with_sha3_256, NISTObjectIdentifiers.id_ecdsa_with_sha3_384);
    public static final int MIN_RSA_BITS = 2048;
    public static final int MAX_RSA_BITS = 8192;

    private KeyPolicy() {
    }

    /** Checks a public key; returns a short description such as {@code EC P-256}. */
    public static String check(String what, SubjectPublicKeyInfo spki, PublicKey key) {
        ASN1ObjectIdentifier alg = spki.getAlgorithm().getAlgorithm();
        if (alg.equals(X9ObjectIdentifiers.id_ecPublicKey)) {
            var params = spki.getAlgorithm().getParameters();
            if (!(params instanceof ASN1ObjectIdentifier curve) || !CURVES.contains(curve)) {
                throw Refusal.invalid(what + " uses an unsupported elliptic curve; use P-256 (prime256v1) or P-384");
            }
            if (!(key instanceof ECPublicKey)) {
                throw Refusal.invalid(what + " has an unreadable EC public key");
            }
            return curve.equals(SECObjectIdentifiers.secp256r1) ? "EC P-256" : "EC P-384";
        }
        if (alg.equals(PKCSObjectIdentifiers.rsaEncryption)) {
            if (!(key instanceof RSAPublicKey rsa)) {
                throw Refusal.invalid(what + " has an unreadable RSA public key");
            }
            int bits = rsa.getModulus().bitLength();
            if (bits < MIN_RSA_BITS) {
                throw Refusal.invalid(what + " has an RSA key of " + bits + " bits; at least " + MIN_RSA_BITS + " are required");
            }
            if (bits > MAX_RSA_BITS) {
                throw Refusal.invalid(what + " has an RSA key of " + bits + " bits; at most " + MAX_RSA_BITS + " are accepted");
            }
            return "RSA " + bits;
        }
        throw Refusal.invalid(what + " uses an unsupported key type; use ECDSA P-256 (recommended), P-384 or RSA >= 2048");
    }

    public static void checkSignatureAlgorithm(String what, AlgorithmIdentifier sigAlg) {
        if (!SIGNATURES.contains(sigAlg.getAlgorithm())) {
            throw Refusal.invalid(what + " is signed with an unsupported or weak algorithm; use SHA-256 or stronger");
        }
    }

    /** SHA-256 of the DER-encoded SubjectPublicKeyInfo, hex: the identity of a key pair. */
    public static String fingerprint(SubjectPublicKeyInfo spki) {
        try {
            return Secrets.sha256Hex(spki.getEncoded());
        } catch (java.io.IOException e) {
            throw new IllegalStateException(e);
        }
    }
}
