package dev.bulwark.device;

import java.io.IOException;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.charset.StandardCharsets;
import java.security.cert.CertificateException;
import java.security.cert.X509Certificate;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Base64;
import java.util.List;
import javax.net.ssl.SSLParameters;
import org.bouncycastle.cert.X509CertificateHolder;
import org.bouncycastle.cert.jcajce.JcaX509CertificateConverter;
import org.bouncycastle.cms.CMSException;
import org.bouncycastle.cms.CMSSignedData;

/**
 * An EST (RFC 7030) client: {@code cacerts}, {@code simpleenroll} with a one-time enrollment token, and
 * {@code simplereenroll} over mutual TLS with the current certificate. It verifies the server against the
 * platform CA it was given, with host name checking, and sends only the CSR: the private key never
 * leaves the device.
 */
public final class EstClient {

    /** The server refused the request; {@code status} is the HTTP status, {@code detail} the server's reason. */
    public static final class EstException extends RuntimeException {
        private final int status;

        public EstException(int status, String detail) {
            super("EST request refused (HTTP " + status + "): " + detail, null, false, false);
            this.status = status;
        }

        public int status() {
            return status;
        }

        /** True when trying again later can help (the server or the network failed), false for a refusal. */
        public boolean retryable() {
            return status == 0 || status == 429 || status >= 500;
        }
    }

    private final URI base;
    private final List<X509Certificate> anchors;

    /** {@code base}: the device HTTPS address, e.g. {@code https://bulwark.example:8444}. */
    public EstClient(URI base, List<X509Certificate> anchors) {
        this.base = base.resolve("/.well-known/est/");
        this.anchors = List.copyOf(anchors);
    }

    public List<X509Certificate> caCerts() {
        HttpRequest req = HttpRequest.newBuilder(base.resolve("cacerts")).timeout(Duration.ofSeconds(30)).GET().build();
        return certsOnly(send(client(null), req));
    }

    /** First enrollment, authorized by a one-time enrollment token. */
    public X509Certificate enroll(String enrollmentToken, byte[] csrDer) {
        HttpRequest req = post("simpleenroll", csrDer).header("Authorization", "Bearer " + enrollmentToken).build();
        return single(certsOnly(send(client(null), req)));
    }

    /** First enrollment with a factory credential presented in the TLS handshake. */
    public X509Certificate enrollWithFactoryCertificate(CredentialFiles.Credential factory, byte[] csrDer) {
        return single(certsOnly(send(client(factory), post("simpleenroll", csrDer).build())));
    }

    /** Renewal (or re-key), authorized by the current certificate over mutual TLS. */
    public X509Certificate reenroll(CredentialFiles.Credential current, byte[] csrDer) {
        return single(certsOnly(send(client(current), post("simplereenroll", csrDer).build())));
    }

    private HttpRequest.Builder post(String op, byte[] csrDer) {
        return HttpRequest.newBuilder(base.resolve(op)).timeout(Duration.ofSeconds(30))
                .header("Content-Type", "application/pkcs10").header("Content-Transfer-Encoding", "base64")
                .POST(HttpRequest.BodyPublishers.ofString(Base64.getMimeEncoder().encodeToString(csrDer), StandardCharsets.US_ASCII));
    }

    private HttpClient client(CredentialFiles.Credential credential) {
        SSLParameters params = new SSLParameters();
        params.setProtocols(DeviceTls.protocols());
        return HttpClient.newBuilder().sslContext(DeviceTls.context(anchors, credential)).sslParameters(params)
                .connectTimeout(Duration.ofSeconds(10)).version(HttpClient.Version.HTTP_1_1).build();
    }

    private static byte[] send(HttpClient client, HttpRequest req) {
        HttpResponse<byte[]> r;
        try {
            r = client.send(req, HttpResponse.BodyHandlers.ofByteArray());
        } catch (IOException e) {
            throw new EstException(0, "cannot reach the EST server: " + e.getMessage());
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new EstException(0, "interrupted");
        }
        if (r.statusCode() != 200) {
            String body = new String(r.body(), StandardCharsets.UTF_8);
            throw new EstException(r.statusCode(), body.length() > 300 ? body.substring(0, 300) : body);
        }
        return r.body();
    }

    private static List<X509Certificate> certsOnly(byte[] base64) {
        try {
            CMSSignedData sd = new CMSSignedData(Base64.getMimeDecoder().decode(base64));
            List<X509Certificate> out = new ArrayList<>();
            for (X509CertificateHolder h : sd.getCertificates().getMatches(null)) {
                out.add(new JcaX509CertificateConverter().getCertificate(h));
            }
            return out;
        } catch (CMSException | CertificateException | IllegalArgumentException e) {
            throw new EstException(200, "the response is not a base64 PKCS#7 certs-only message");
        }
    }

    private static X509Certificate single(List<X509Certificate> certs) {
        if (certs.size() != 1) {
            throw new EstException(200, "expected one certificate, got " + certs.size());
        }
        return certs.get(0);
    }
}
