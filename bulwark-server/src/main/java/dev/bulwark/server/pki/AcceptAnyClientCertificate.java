package dev.bulwark.server.pki;

import java.net.Socket;
import java.security.cert.X509Certificate;
import javax.net.ssl.SSLEngine;
import javax.net.ssl.X509ExtendedTrustManager;

/**
 * Lets the TLS handshake complete with any client certificate (or none), so that every refusal reaches
 * the application and is recorded as a security event. The handshake still proves that the client holds
 * the private key of the certificate it sent; whether that certificate is trusted, valid, registered and
 * unrevoked is decided at CONNECT by {@link dev.bulwark.server.device.DeviceAuthenticator}, off the event
 * loop. A trust manager that refused here would refuse silently: the MQTT layer never sees the attempt.
 *
 * <p>Trust boundary: a certificate that passed this class has been checked for nothing but possession.
 */
public final class AcceptAnyClientCertificate extends X509ExtendedTrustManager {
    private static final X509Certificate[] NONE = new X509Certificate[0];

    @Override
    public void checkClientTrusted(X509Certificate[] chain, String authType) {
    }

    @Override
    public void checkClientTrusted(X509Certificate[] chain, String authType, Socket socket) {
    }

    @Override
    public void checkClientTrusted(X509Certificate[] chain, String authType, SSLEngine engine) {
    }

    @Override
    public void checkServerTrusted(X509Certificate[] chain, String authType) throws java.security.cert.CertificateException {
        throw new java.security.cert.CertificateException("server certificates are not checked here");
    }

    @Override
    public void checkServerTrusted(X509Certificate[] chain, String authType, Socket socket) throws java.security.cert.CertificateException {
        checkServerTrusted(chain, authType);
    }

    @Override
    public void checkServerTrusted(X509Certificate[] chain, String authType, SSLEngine engine) throws java.security.cert.CertificateException {
        checkServerTrusted(chain, authType);
    }

    @Override
    public X509Certificate[] getAcceptedIssuers() {
        return NONE;
    }
}
