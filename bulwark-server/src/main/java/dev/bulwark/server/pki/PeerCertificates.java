package dev.bulwark.server.pki;

import java.security.cert.Certificate;
import java.security.cert.X509Certificate;
import javax.net.ssl.SSLPeerUnverifiedException;
import javax.net.ssl.SSLSession;

/** The client certificate chain a TLS peer presented, if any. */
public final class PeerCertificates {
    private PeerCertificates() {
    }

    /** The chain, leaf first; null when the connection is not TLS or the peer sent no certificate. */
    public static X509Certificate[] of(SSLSession session) {
        if (session == null) {
            return null;
        }
        try {
            Certificate[] certs = session.getPeerCertificates();
            if (certs == null || certs.length == 0) {
                return null;
            }
            X509Certificate[] out = new X509Certificate[certs.length];
            for (int i = 0; i < certs.length; i++) {
                out[i] = (X509Certificate) certs[i];
            }
            return out;
        } catch (SSLPeerUnverifiedException e) {
            return null;
        }
    }
}
