package dev.bulwark.server.testkit;

import java.io.ByteArrayInputStream;
import java.io.StringReader;
import java.nio.file.Files;
import java.nio.file.Path;
import java.security.KeyStore;
import java.security.PrivateKey;
import java.security.cert.Certificate;
import java.security.cert.CertificateFactory;
import javax.net.ssl.KeyManagerFactory;
import javax.net.ssl.SSLContext;
import javax.net.ssl.SSLSocketFactory;
import javax.net.ssl.TrustManagerFactory;
import org.bouncycastle.asn1.pkcs.PrivateKeyInfo;
import org.bouncycastle.openssl.PEMParser;
import org.bouncycastle.openssl.jcajce.JcaPEMKeyConverter;

/** TLS client contexts for Java MQTT clients, from the PEM files openssl and the API produced. */
public final class Tls {
    private Tls() {
    }

    public static SSLSocketFactory clientFactory(Path ca, Path cert, Path key) {
        try {
            CertificateFactory cf = CertificateFactory.getInstance("X.509");
            Certificate caCert = cf.generateCertificate(new ByteArrayInputStream(Files.readAllBytes(ca)));
            KeyStore trust = KeyStore.getInstance("PKCS12");
            trust.load(null, null);
            trust.setCertificateEntry("ca", caCert);
            TrustManagerFactory tmf = TrustManagerFactory.getInstance(TrustManagerFactory.getDefaultAlgorithm());
            tmf.init(trust);
            KeyManagerFactory kmf = null;
            if (cert != null) {
                Certificate deviceCert = cf.generateCertificate(new ByteArrayInputStream(Files.readAllBytes(cert)));
                PrivateKey pk;
                try (PEMParser p = new PEMParser(new StringReader(Files.readString(key)))) {
                    pk = new JcaPEMKeyConverter().getPrivateKey((PrivateKeyInfo) p.readObject());
                }
                KeyStore ks = KeyStore.getInstance("PKCS12");
                ks.load(null, null);
                ks.setKeyEntry("device", pk, new char[0], new Certificate[] {deviceCert});
                kmf = KeyManagerFactory.getInstance(KeyManagerFactory.getDefaultAlgorithm());
                kmf.init(ks, new char[0]);
            }
            SSLContext ctx = SSLContext.getInstance("TLSv1.3");
            ctx.init(kmf == null ? null : kmf.getKeyManagers(), tmf.getTrustManagers(), null);
            return ctx.getSocketFactory();
        } catch (Exception e) {
            throw new IllegalStateException("cannot build the TLS client context", e);
        }
    }
}
