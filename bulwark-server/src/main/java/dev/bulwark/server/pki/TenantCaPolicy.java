package dev.bulwark.server.pki;

import dev.bulwark.protocol.DeviceId;
import dev.bulwark.server.core.Refusal;
import dev.bulwark.server.crypto.Secrets;
import java.security.GeneralSecurityException;
import java.security.cert.CertificateEncodingException;
import java.security.cert.X509Certificate;
import java.util.List;
import org.bouncycastle.asn1.x500.X500Name;
import org.bouncycastle.asn1.x509.SubjectPublicKeyInfo;

/**
 * Checks a tenant's own CA before it is trusted to vouch for devices, and checks factory certificates
 * issued by such a CA.
 *
 * <p>Proof of possession: the tenant first obtains a one-time challenge from the server, then makes a
 * <em>verification certificate</em> whose subject CN is that challenge and signs it with the CA's private
 * key. Only whoever holds the CA key can do that, so a tenant cannot register (and thereby claim the
 * devices of) a CA that belongs to someone else.
 */
public final class TenantCaPolicy {

    /** A CA certificate that passed the checks. */
    public record CheckedCa(X509Certificate certificate, String subject, String fingerprint, String keyFingerprint) {
    }

    private TenantCaPolicy() {
    }

    /** Parses and checks a CA certificate: a CA, currently valid, allowed to sign certificates, acceptable key. */
    public static CheckedCa checkCa(String pem, long nowMs) {
        X509Certificate ca = Pem.certificate(pem);
        if (ca == null) {
            throw Refusal.invalid("certificate must be exactly one PEM-encoded X.509 certificate");
        }
        if (ca.getBasicConstraints() < 0) {
            throw Refusal.invalid("certificate is not a CA certificate (basicConstraints cA=true is required)");
        }
        boolean[] ku = ca.getKeyUsage();
        if (ku != null && (ku.length < 6 || !ku[5])) {
            throw Refusal.invalid("certificate key usage does not allow signing certificates (keyCertSign)");
        }
        checkValidity("certificate", ca, nowMs);
        SubjectPublicKeyInfo spki = SubjectPublicKeyInfo.getInstance(ca.getPublicKey().getEncoded());
        KeyPolicy.check("CA certificate", spki, ca.getPublicKey());
        try {
            return new CheckedCa(ca, ca.getSubjectX500Principal().getName(), Secrets.sha256Hex(ca.getEncoded()),
                    KeyPolicy.fingerprint(spki));
        } catch (CertificateEncodingException e) {
            throw Refusal.invalid("certificate cannot be encoded");
        }
    }

    /**
     * Checks the proof of possession: {@code verificationPem} is signed by the CA's key and its subject CN
     * is {@code challenge}'s value; returns the CN found so the caller can match it to a stored challenge.
     */
    public static String proofOfPossessionCn(CheckedCa ca, String verificationPem, long nowMs) {
        X509Certificate v = Pem.certificate(verificationPem);
        if (v == null) {
            throw Refusal.invalid("verificationCertificate must be exactly one PEM-encoded X.509 certificate");
        }
        try {
            v.verify(ca.certificate().getPublicKey());
        } catch (GeneralSecurityException e) {
            throw Refusal.invalid("verificationCertificate is not signed by the CA's key: proof of possession failed");
        }
        checkValidity("verificationCertificate", v, nowMs);
        String cn = singleCn(X500Name.getInstance(v.getSubjectX500Principal().getEncoded()));
        if (cn == null) {
            throw Refusal.invalid("verificationCertificate subject must have exactly one CN holding the challenge");
        }
        return cn;
    }

    /**
     * Checks a factory certificate presented for registration: issued (signed) by one of {@code cas},
     * valid now, subject CN equal to the device id, not itself a CA. Returns the issuing CA's index.
     */
    public static int checkFactoryCertificate(X509Certificate cert, List<X509Certificate> cas, DeviceId device, long nowMs) {
        if (cert.getBasicConstraints() >= 0) {
            throw Refusal.invalid("certificate is a CA certificate, not a device certificate");
        }
        checkValidity("certificate", cert, nowMs);
        SubjectPublicKeyInfo spki = SubjectPublicKeyInfo.getInstance(cert.getPublicKey().getEncoded());
        KeyPolicy.check("certificate", spki, cert.getPublicKey());
        String cn = singleCn(X500Name.getInstance(cert.getSubjectX500Principal().getEncoded()));
        if (!device.value().equals(cn)) {
            throw Refusal.invalid("certificate subject CN does not match the device id");
        }
        for (int i = 0; i < cas.size(); i++) {
            X509Certificate ca = cas.get(i);
            if (!ca.getSubjectX500Principal().equals(cert.getIssuerX500Principal())) {
                continue;
            }
            try {
                cert.verify(ca.getPublicKey());
                return i;
            } catch (GeneralSecurityException e) {
                // try the next CA with the same name
            }
        }
        throw Refusal.invalid("certificate is not issued by a CA registered (with proof of possession) for this tenant");
    }

    /**
     * Why a registered tenant CA cannot vouch for a device now: {@code ca-expired} or {@code ca-not-yet-valid};
     * empty while it is within its validity period. Trust in a CA ends with its certificate.
     */
    public static java.util.Optional<String> outsideValidity(X509Certificate ca, long nowMs) {
        if (ca.getNotAfter().getTime() < nowMs) {
            return java.util.Optional.of("ca-expired");
        }
        if (ca.getNotBefore().getTime() > nowMs) {
            return java.util.Optional.of("ca-not-yet-valid");
        }
        return java.util.Optional.empty();
    }

    private static void checkValidity(String what, X509Certificate c, long nowMs) {
        if (c.getNotBefore().getTime() > nowMs) {
            throw Refusal.invalid(what + " is not valid yet");
        }
        if (c.getNotAfter().getTime() < nowMs) {
            throw Refusal.invalid(what + " has expired");
        }
    }

    private static String singleCn(X500Name name) {
        return CsrPolicy.singleCn(name);
    }
}
