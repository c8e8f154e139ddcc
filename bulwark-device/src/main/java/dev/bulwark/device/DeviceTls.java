package dev.bulwark.device;

import java.io.IOException;
import java.io.StringReader;
import java.io.UncheckedIOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.security.GeneralSecurityException;
import java.security.KeyStore;
import java.security.cert.CertificateException;
import java.security.cert.X509Certificate;
import java.util.ArrayList;
import java.util.List;
import javax.net.ssl.KeyManagerFactory;
import javax.net.ssl.SSLContext;
import javax.net.ssl.TrustManagerFactory;
import org.bouncycastle.cert.X509CertificateHolder;
import org.bouncycastle.cert.jcajce.JcaX509CertificateConverter;
import org.bouncycastle.openssl.PEMParser;

/**
 * TLS for the device: it trusts only the platform CA it was given (never the system store, never "trust
 * all"), speaks TLS 1.3 or 1.2, and presents its own certificate when it has one.
 */
public final class DeviceTls {
    private DeviceTls() {
    }

    /** Reads the PEM certificates in {@code file} (the platform CA, {@code <data>/pki/ca.pem} on the server). */
    public static List<X509Certificate> readCertificates(Path file) {
        try (PEMParser p = new PEMParser(new StringReader(Files.readString(file, StandardCharsets.US_ASCII)))) {
            List<X509Certificate> out = new ArrayList<>();
            Object o;
            while ((o = p.readObject()) != null) {
                if (o instanceof X509CertificateHolder h) {
                    out.add(new JcaX509CertificateConverter().getCertificate(h));
                }
            }
            if (out.isEmpty()) {
                throw new IllegalArgumentException(file + " holds no PEM certificate");
            }
            return out;
        } catch (IOException e) {
            throw new UncheckedIOException("cannot read the trust anchor " + file, e);
        } catch (CertificateException e) {
            throw new IllegalArgumentException("the trust anchor " + file + " cannot be read", e);
        }
    }

    /** A TLS context trusting {@code anchors} and, when {@code credential} is not null, presenting it. */
    public static SSLContext context(List<X509Certificate> anchors, CredentialFiles.Credential credential) {
        try {
            KeyStore trust = KeyStore.getInstance("PKCS12");
            trust.load(null, null);
            for (int i = 0; i < anchors.size(); i++) {
                trust.setCertificateEntry("anchor-" + i, anchors.get(i));
            }
            TrustManagerFactory tmf = TrustManagerFactory.getInstance(TrustManagerFactory.getDefaultAlgorithm());
            tmf.init(trust);
            KeyManagerFactory kmf = null;
            if (credential != null) {
                char[] pass = new char[0];
                KeyStore keys = KeyStore.getInstance("PKCS12");
                keys.load(null, null);
                keys.setKeyEntry("device", credential.keys().getPrivate(), pass, new X509Certificate[] {credential.certificate()});
                kmf = KeyManagerFactory.getInstance(KeyManagerFactory.getDefaultAlgorithm());
                kmf.init(keys, pass);
            }
            SSLContext ctx = SSLContext.getInstance("TLS");
            ctx.init(kmf == null ? null : kmf.getKeyManagers(), tmf.getTrustManagers(), null);
            return ctx;
        } catch (GeneralSecurityException | IOException e) {
            throw new IllegalStateException("cannot set up TLS", e);
        }
    }

    /** The protocols the device accepts. */
    public static String[] protocols() {
        return new String[] {"TLSv1.3", "TLSv1.2"};
    }
}
