package dev.bulwark.server.pki;

import dev.bulwark.protocol.DeviceId;
import dev.bulwark.protocol.TenantId;
import dev.bulwark.server.config.DataDir;
import dev.bulwark.server.crypto.Secrets;
import java.math.BigInteger;
import java.net.InetAddress;
import java.nio.file.Files;
import java.nio.file.Path;
import java.security.GeneralSecurityException;
import java.security.KeyPair;
import java.security.KeyPairGenerator;
import java.security.PrivateKey;
import java.security.PublicKey;
import java.security.cert.X509Certificate;
import java.security.spec.ECGenParameterSpec;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Date;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Set;
import org.bouncycastle.asn1.x500.X500Name;
import org.bouncycastle.asn1.x500.X500NameBuilder;
import org.bouncycastle.asn1.x500.style.BCStyle;
import org.bouncycastle.asn1.x509.BasicConstraints;
import org.bouncycastle.asn1.x509.ExtendedKeyUsage;
import org.bouncycastle.asn1.x509.Extension;
import org.bouncycastle.asn1.x509.GeneralName;
import org.bouncycastle.asn1.x509.GeneralNames;
import org.bouncycastle.asn1.x509.KeyPurposeId;
import org.bouncycastle.asn1.x509.KeyUsage;
import org.bouncycastle.asn1.x509.SubjectPublicKeyInfo;
import org.bouncycastle.cert.X509CertificateHolder;
import org.bouncycastle.cert.X509v3CertificateBuilder;
import org.bouncycastle.cert.jcajce.JcaX509ExtensionUtils;
import org.bouncycastle.cert.jcajce.JcaX509v3CertificateBuilder;
import org.bouncycastle.openssl.jcajce.JcaPEMKeyConverter;
import org.bouncycastle.operator.ContentSigner;
import org.bouncycastle.operator.jcajce.JcaContentSignerBuilder;
import org.bouncycastle.asn1.pkcs.PrivateKeyInfo;

/**
 * The platform's own PKI: a CA (ECDSA P-256) that issues device certificates and the server's TLS
 * certificate. The CA key lives in {@code <data>/pki/ca.key} (owner-only) and its certificate in
 * {@code <data>/pki/ca.pem}, which devices and operators use as their trust anchor.
 *
 * <p>The server certificate covers {@code localhost}, 127.0.0.1, ::1 and the configured host names; it
 * is re-issued at start when those names change or when it expires within 30 days.
 */
public final class PlatformPki {
    public static final String PLATFORM_CA_ID = "platform";
    private static final Duration CA_VALIDITY = Duration.ofDays(20 * 365);
    private static final Duration SERVER_VALIDITY = Duration.ofDays(397);
    private static final Duration RENEW_BEFORE = Duration.ofDays(30);

    private final KeyPair caKeys;
    private final X509Certificate caCert;
    private final String caPem;
    private final PrivateKey serverKey;
    private final X509Certificate serverCert;
    private final Path caPemFile;

    private PlatformPki(KeyPair caKeys, X509Certificate caCert, PrivateKey serverKey, X509Certificate serverCert, Path caPemFile) {
        this.caKeys = caKeys;
        this.caCert = caCert;
        this.caPem = Pem.encode(caCert);
        this.serverKey = serverKey;
        this.serverCert = serverCert;
        this.caPemFile = caPemFile;
    }

    public static PlatformPki loadOrCreate(DataDir dataDir, List<String> hostNames, long nowMs) {
        Path pki = dataDir.dir("pki");
        Path caKeyFile = pki.resolve("ca.key");
        Path caCertFile = pki.resolve("ca.pem");
        KeyPair caKeys;
        X509Certificate caCert;
        if (Files.exists(caKeyFile) && Files.exists(caCertFile)) {
            caCert = Pem.certificate(DataDir.read(caCertFile));
            if (caCert == null) {
                throw new IllegalStateException("pki/ca.pem is not a certificate");
            }
            caKeys = new KeyPair(caCert.getPublicKey(), readPrivateKey(caKeyFile));
            if (!signs(caKeys)) {
                throw new IllegalStateException("pki/ca.pem does not match pki/ca.key");
            }
        } else {
            caKeys = newP256();
            X500Name name = new X500NameBuilder(BCStyle.INSTANCE)
                    .addRDN(BCStyle.O, "Bulwark")
                    .addRDN(BCStyle.OU, "install " + Secrets.randomHex(6))
                    .addRDN(BCStyle.CN, "Bulwark Platform CA").build();
            caCert = build(name, caKeys.getPublic(), name, caKeys.getPrivate(), nowMs, CA_VALIDITY, b -> {
                b.addExtension(Extension.basicConstraints, true, new BasicConstraints(0));
                b.addExtension(Extension.keyUsage, true, new KeyUsage(KeyUsage.keyCertSign | KeyUsage.cRLSign));
            });
            DataDir.writeSecret(caKeyFile, Pem.privateKey(caKeys.getPrivate()));
            DataDir.writePublic(caCertFile, Pem.encode(caCert));
        }

        Set<String> names = new LinkedHashSet<>();
        names.add("localhost");
        names.addAll(hostNames);
        Path serverKeyFile = pki.resolve("server.key");
        Path serverCertFile = pki.resolve("server.pem");
        PrivateKey serverKey = null;
        X509Certificate serverCert = null;
        if (Files.exists(serverKeyFile) && Files.exists(serverCertFile)) {
            X509Certificate c = Pem.certificate(DataDir.read(serverCertFile));
            KeyPair kp = c == null ? null : new KeyPair(c.getPublicKey(), readPrivateKey(serverKeyFile));
            if (c != null && signs(kp) && sameNames(c, names)
                    && c.getNotAfter().getTime() - RENEW_BEFORE.toMillis() > nowMs && verifies(c, caCert)) {
                serverKey = kp.getPrivate();
                serverCert = c;
            }
        }
        if (serverCert == null) {
            KeyPair kp = newP256();
            X500Name subject = new X500NameBuilder(BCStyle.INSTANCE).addRDN(BCStyle.O, "Bulwark").addRDN(BCStyle.CN, "localhost").build();
            X509Certificate ca = caCert;
            serverCert = build(X500Name.getInstance(ca.getSubjectX500Principal().getEncoded()), kp.getPublic(), subject,
                    caKeys.getPrivate(), nowMs, SERVER_VALIDITY, b -> {
                        b.addExtension(Extension.basicConstraints, true, new BasicConstraints(false));
                        b.addExtension(Extension.keyUsage, true, new KeyUsage(KeyUsage.digitalSignature));
                        b.addExtension(Extension.extendedKeyUsage, false, new ExtendedKeyUsage(KeyPurposeId.id_kp_serverAuth));
                        b.addExtension(Extension.subjectAlternativeName, false, sans(names));
                        b.addExtension(Extension.authorityKeyIdentifier, false, utils().createAuthorityKeyIdentifier(ca));
                    });
            serverKey = kp.getPrivate();
            DataDir.writeSecret(serverKeyFile, Pem.privateKey(kp.getPrivate()));
            DataDir.writePublic(serverCertFile, Pem.encode(serverCert));
        }
        return new PlatformPki(caKeys, caCert, serverKey, serverCert, caCertFile);
    }

    public X509Certificate caCertificate() {
        return caCert;
    }

    public String caPem() {
        return caPem;
    }

    public Path caPemFile() {
        return caPemFile;
    }

    public String serverCertificatePem() {
        return Pem.encode(serverCert);
    }

    public String serverKeyPem() {
        return Pem.privateKey(serverKey);
    }

    /**
     * Issues a device certificate for a public key that already passed {@link CsrPolicy}. The subject
     * is set by the server ({@code CN=<device>, O=<tenant>}), never copied from the request.
     */
    public X509Certificate issueDeviceCertificate(SubjectPublicKeyInfo spki, TenantId tenant, DeviceId device,
                                                  long nowMs, Duration validity) {
        X500Name subject = new X500NameBuilder(BCStyle.INSTANCE)
                .addRDN(BCStyle.O, tenant.value()).addRDN(BCStyle.CN, device.value()).build();
        try {
            PublicKey key = new JcaPEMKeyConverter().getPublicKey(spki);
            X509Certificate ca = caCert;
            return build(X500Name.getInstance(ca.getSubjectX500Principal().getEncoded()), key, subject,
                    caKeys.getPrivate(), nowMs, validity, b -> {
                        b.addExtension(Extension.basicConstraints, true, new BasicConstraints(false));
                        b.addExtension(Extension.keyUsage, true, new KeyUsage(KeyUsage.digitalSignature));
                        b.addExtension(Extension.extendedKeyUsage, false, new ExtendedKeyUsage(KeyPurposeId.id_kp_clientAuth));
                        b.addExtension(Extension.authorityKeyIdentifier, false, utils().createAuthorityKeyIdentifier(ca));
                        b.addExtension(Extension.subjectKeyIdentifier, false, utils().createSubjectKeyIdentifier(key));
                    });
        } catch (java.io.IOException e) {
            throw new IllegalStateException("cannot issue device certificate", e);
        }
    }

    /** Serial numbers: 127 random bits, positive, hex. */
    public static String serialHex(X509Certificate c) {
        return c.getSerialNumber().toString(16);
    }

    interface Extensions {
        void add(X509v3CertificateBuilder b) throws Exception;
    }

    private static X509Certificate build(X500Name issuer, PublicKey key, X500Name subject, PrivateKey signer,
                                         long nowMs, Duration validity, Extensions ext) {
        try {
            BigInteger serial = new BigInteger(1, Secrets.randomBytes(16)).clearBit(127);
            if (serial.signum() == 0) {
                serial = BigInteger.ONE;
            }
            X509v3CertificateBuilder b = new JcaX509v3CertificateBuilder(issuer, serial,
                    new Date(nowMs - 60_000), new Date(nowMs + validity.toMillis()), subject, key);
            ext.add(b);
            if (issuer.equals(subject)) {
                b.addExtension(Extension.subjectKeyIdentifier, false, utils().createSubjectKeyIdentifier(key));
            }
            ContentSigner cs = new JcaContentSignerBuilder("SHA256withECDSA").build(signer);
            X509CertificateHolder holder = b.build(cs);
            return Pem.toCertificate(holder);
        } catch (Exception e) {
            throw new IllegalStateException("cannot build certificate", e);
        }
    }

    private static JcaX509ExtensionUtils utils() {
        try {
            return new JcaX509ExtensionUtils();
        } catch (GeneralSecurityException e) {
            throw new IllegalStateException(e);
        }
    }

    private static GeneralNames sans(Set<String> names) throws java.net.UnknownHostException {
        List<GeneralName> gn = new ArrayList<>();
        for (String n : names) {
            gn.add(new GeneralName(GeneralName.dNSName, n));
        }
        gn.add(new GeneralName(GeneralName.iPAddress, "127.0.0.1"));
        gn.add(new GeneralName(GeneralName.iPAddress, InetAddress.getByName("::1").getHostAddress()));
        return new GeneralNames(gn.toArray(GeneralName[]::new));
    }

    private static boolean sameNames(X509Certificate c, Set<String> names) {
        try {
            Set<String> dns = new LinkedHashSet<>();
            if (c.getSubjectAlternativeNames() != null) {
                for (List<?> san : c.getSubjectAlternativeNames()) {
                    if ((Integer) san.get(0) == GeneralName.dNSName) {
                        dns.add((String) san.get(1));
                    }
                }
            }
            return dns.equals(names);
        } catch (Exception e) {
            return false;
        }
    }

    private static boolean verifies(X509Certificate c, X509Certificate issuer) {
        try {
            c.verify(issuer.getPublicKey());
            return true;
        } catch (GeneralSecurityException e) {
            return false;
        }
    }

    private static boolean signs(KeyPair kp) {
        try {
            java.security.Signature sig = java.security.Signature.getInstance("SHA256withECDSA");
            sig.initSign(kp.getPrivate());
            sig.update(new byte[] {1});
            byte[] signature = sig.sign();
            sig.initVerify(kp.getPublic());
            sig.update(new byte[] {1});
            return sig.verify(signature);
        } catch (GeneralSecurityException e) {
            return false;
        }
    }

    static KeyPair newP256() {
        try {
            KeyPairGenerator g = KeyPairGenerator.getInstance("EC");
            g.initialize(new ECGenParameterSpec("secp256r1"));
            return g.generateKeyPair();
        } catch (GeneralSecurityException e) {
            throw new IllegalStateException(e);
        }
    }

    private static PrivateKey readPrivateKey(Path file) {
        List<Object> objs = Pem.readAll(DataDir.read(file));
        try {
            if (objs.size() == 1 && objs.get(0) instanceof PrivateKeyInfo info) {
                return new JcaPEMKeyConverter().getPrivateKey(info);
            }
        } catch (java.io.IOException e) {
            throw new IllegalStateException("cannot read key " + file.getFileName(), e);
        }
        throw new IllegalStateException("cannot read key " + file.getFileName() + ": a PKCS#8 PRIVATE KEY is expected");
    }
}
