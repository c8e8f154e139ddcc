package dev.bulwark.server.pki;

import java.io.IOException;
import java.io.StringReader;
import java.io.StringWriter;
import java.io.UncheckedIOException;
import java.security.cert.CertificateException;
import java.security.cert.X509Certificate;
import java.util.ArrayList;
import java.util.List;
import org.bouncycastle.cert.X509CertificateHolder;
import org.bouncycastle.cert.jcajce.JcaX509CertificateConverter;
import org.bouncycastle.openssl.PEMParser;
import org.bouncycastle.openssl.jcajce.JcaPEMWriter;

/** PEM encoding and decoding. Parsing failures come back as empty results, never as stack traces. */
public final class Pem {
    private static final JcaX509CertificateConverter CONVERTER = new JcaX509CertificateConverter();

    private Pem() {
    }

    public static String encode(Object o) {
        StringWriter sw = new StringWriter();
        try (JcaPEMWriter w = new JcaPEMWriter(sw)) {
            w.writeObject(o);
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
        return sw.toString();
    }

    /** A private key as unencrypted PKCS#8 PEM (type "PRIVATE KEY"), readable by OpenSSL and Netty. */
    public static String privateKey(java.security.PrivateKey key) {
        return encode(new org.bouncycastle.util.io.pem.PemObject("PRIVATE KEY", key.getEncoded()));
    }

    /** Every object in a PEM text, in order; empty when the text holds no PEM object or is malformed. */
    public static List<Object> readAll(String pem) {
        List<Object> out = new ArrayList<>();
        if (pem == null) {
            return out;
        }
        try (PEMParser p = new PEMParser(new StringReader(pem))) {
            Object o;
            while ((o = p.readObject()) != null) {
                out.add(o);
            }
        } catch (IOException | RuntimeException e) {
            return List.of();
        }
        return out;
    }

    /** Parses exactly one X.509 certificate, or returns null. */
    public static X509Certificate certificate(String pem) {
        List<Object> all = readAll(pem);
        if (all.size() != 1 || !(all.get(0) instanceof X509CertificateHolder h)) {
            return null;
        }
        try {
            return CONVERTER.getCertificate(h);
        } catch (CertificateException e) {
            return null;
        }
    }

    public static X509Certificate toCertificate(X509CertificateHolder h) {
        try {
            return CONVERTER.getCertificate(h);
        } catch (CertificateException e) {
            throw new IllegalStateException(e);
        }
    }
}
