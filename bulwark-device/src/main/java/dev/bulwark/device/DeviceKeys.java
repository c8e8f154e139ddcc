package dev.bulwark.device;

import dev.bulwark.protocol.DeviceId;
import java.io.IOException;
import java.io.StringWriter;
import java.io.UncheckedIOException;
import java.security.GeneralSecurityException;
import java.security.KeyPair;
import java.security.KeyPairGenerator;
import java.security.spec.ECGenParameterSpec;
import org.bouncycastle.asn1.x500.X500NameBuilder;
import org.bouncycastle.asn1.x500.style.BCStyle;
import org.bouncycastle.openssl.jcajce.JcaPEMWriter;
import org.bouncycastle.operator.OperatorCreationException;
import org.bouncycastle.operator.jcajce.JcaContentSignerBuilder;
import org.bouncycastle.pkcs.PKCS10CertificationRequest;
import org.bouncycastle.pkcs.jcajce.JcaPKCS10CertificationRequestBuilder;

/**
 * A device's key pair, generated on the device (ECDSA P-256). Only the certificate signing request
 * leaves the device; the private key never does.
 */
public final class DeviceKeys {
    private final DeviceId device;
    private final KeyPair keyPair;

    private DeviceKeys(DeviceId device, KeyPair keyPair) {
        this.device = device;
        this.keyPair = keyPair;
    }

    public static DeviceKeys generate(DeviceId device) {
        try {
            KeyPairGenerator g = KeyPairGenerator.getInstance("EC");
            g.initialize(new ECGenParameterSpec("secp256r1"));
            return new DeviceKeys(device, g.generateKeyPair());
        } catch (GeneralSecurityException e) {
            throw new IllegalStateException("this JVM cannot generate P-256 keys", e);
        }
    }

    /** Keys loaded from storage (a PKCS#8 P-256 private key); the public key is derived from it. */
    public static DeviceKeys of(DeviceId device, KeyPair keyPair) {
        return new DeviceKeys(device, keyPair);
    }

    public KeyPair keyPair() {
        return keyPair;
    }

    /** The CSR in DER, as EST sends it (base64 encoded). */
    public byte[] csrDer() {
        try {
            return csr().getEncoded();
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }

    /** A PKCS#10 request with subject {@code CN=<device id>}, signed with SHA256withECDSA. */
    public String csrPem() {
        return pem(csr());
    }

    private PKCS10CertificationRequest csr() {
        try {
            return new JcaPKCS10CertificationRequestBuilder(
                    new X500NameBuilder(BCStyle.INSTANCE).addRDN(BCStyle.CN, device.value()).build(), keyPair.getPublic())
                    .build(new JcaContentSignerBuilder("SHA256withECDSA").build(keyPair.getPrivate()));
        } catch (OperatorCreationException e) {
            throw new IllegalStateException("cannot sign the certificate request", e);
        }
    }

    /** The private key as PKCS#8 PEM, for storing on the device with owner-only permissions. */
    public String privateKeyPem() {
        return pem(new org.bouncycastle.util.io.pem.PemObject("PRIVATE KEY", keyPair.getPrivate().getEncoded()));
    }

    /** {@code o} (a certificate, a request, a PEM object) in PEM. */
    public static String pem(Object o) {
        StringWriter sw = new StringWriter();
        try (JcaPEMWriter w = new JcaPEMWriter(sw)) {
            w.writeObject(o);
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
        return sw.toString();
    }
}
