package dev.bulwark.app.sim;

import dev.bulwark.device.CredentialFiles;
import java.io.IOException;
import java.math.BigInteger;
import java.security.GeneralSecurityException;
import java.security.KeyPair;
import java.security.KeyPairGenerator;
import java.security.SecureRandom;
import java.security.cert.X509Certificate;
import java.security.spec.ECGenParameterSpec;
import java.util.Date;
import java.util.Map;
import org.bouncycastle.asn1.x500.X500Name;
import org.bouncycastle.asn1.x509.BasicConstraints;
import org.bouncycastle.asn1.x509.Extension;
import org.bouncycastle.asn1.x509.KeyUsage;
import org.bouncycastle.cert.jcajce.JcaX509CertificateConverter;
import org.bouncycastle.cert.jcajce.JcaX509v3CertificateBuilder;
import org.bouncycastle.operator.OperatorCreationException;
import org.bouncycastle.operator.jcajce.JcaContentSignerBuilder;

/**
 * A simulated manufacturer's CA, registered with the tenant by proof of possession (the challenge signed
 * into a verification certificate), that issues factory certificates. The simulator uses it to make
 * devices whose certificate runs out while they are deployed.
 */
final class FactoryCa {
    private final KeyPair keys;
    private final X509Certificate cert;
    private final X500Name name;

    private FactoryCa(String label) {
        this.keys = p256();
        this.name = new X500Name("O=Simulated Manufacturer,CN=" + label);
        long now = System.currentTimeMillis();
        this.cert = build(name, keys.getPublic(), now - 3_600_000L, now + 365L * 86_400_000L, true);
    }

    /** Creates a CA and registers it with the caller's tenant. */
    static FactoryCa register(OperatorApi api, String label) {
        FactoryCa ca = new FactoryCa(label);
        String challenge = OperatorApi.expect(api.post("/api/v1/cas/challenges", null), "CA challenge", 201).json().get("challenge").asText();
        long now = System.currentTimeMillis();
        X509Certificate verification = ca.build(new X500Name("CN=" + challenge), p256().getPublic(), now - 60_000, now + 3_600_000L, false);
        OperatorApi.expect(api.post("/api/v1/cas", Map.of("certificate", pem(ca.cert), "verificationCertificate", pem(verification))),
                "CA registration", 201);
        return ca;
    }

    /** A factory credential for {@code deviceId}, valid from an hour ago until {@code notAfterMs}. */
    CredentialFiles.Credential issue(String deviceId, long notAfterMs) {
        KeyPair k = p256();
        X509Certificate c = build(new X500Name("CN=" + deviceId), k.getPublic(), System.currentTimeMillis() - 3_600_000L, notAfterMs, false);
        return new CredentialFiles.Credential(k, c);
    }

    private X509Certificate build(X500Name subject, java.security.PublicKey key, long from, long to, boolean isCa) {
        try {
            JcaX509v3CertificateBuilder b = new JcaX509v3CertificateBuilder(name, new BigInteger(127, new SecureRandom()),
                    new Date(from), new Date(to), subject, key);
            b.addExtension(Extension.basicConstraints, true, new BasicConstraints(isCa));
            b.addExtension(Extension.keyUsage, true, new KeyUsage(isCa ? KeyUsage.keyCertSign | KeyUsage.cRLSign : KeyUsage.digitalSignature));
            return new JcaX509CertificateConverter().getCertificate(
                    b.build(new JcaContentSignerBuilder("SHA256withECDSA").build(keys.getPrivate())));
        } catch (GeneralSecurityException | OperatorCreationException | IOException e) {
            throw new IllegalStateException("cannot issue a simulated factory certificate", e);
        }
    }

    static String pem(Object o) {
        return dev.bulwark.device.DeviceKeys.pem(o);
    }

    private static KeyPair p256() {
        try {
            KeyPairGenerator g = KeyPairGenerator.getInstance("EC");
            g.initialize(new ECGenParameterSpec("secp256r1"));
            return g.generateKeyPair();
        } catch (GeneralSecurityException e) {
            throw new IllegalStateException(e);
        }
    }
}
