package dev.bulwark.server.pki;

import io.vertx.core.buffer.Buffer;
import io.vertx.core.http.ClientAuth;
import io.vertx.core.net.NetServerOptions;
import io.vertx.core.net.OpenSSLEngineOptions;
import io.vertx.core.net.PemKeyCertOptions;
import io.vertx.core.net.TrustOptions;
import java.util.LinkedHashSet;
import java.util.List;

/**
 * The one TLS configuration of every Bulwark listener: TLS 1.2 and 1.3 only, AEAD cipher suites with
 * forward secrecy, the platform server certificate. The TLS implementation is BoringSSL (Netty's
 * {@code netty-tcnative} build) where it loads, the JDK's otherwise; the policy is the same for both.
 */
public final class TlsPolicy {
    public static final List<String> PROTOCOLS = List.of("TLSv1.2", "TLSv1.3");
    public static final List<String> CIPHER_SUITES = List.of(
            "TLS_AES_128_GCM_SHA256", "TLS_AES_256_GCM_SHA384", "TLS_CHACHA20_POLY1305_SHA256",
            "TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256", "TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384",
            "TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256");

    private TlsPolicy() {
    }

    /** True when the listeners use BoringSSL (else the JDK's TLS). */
    public static boolean boringSsl() {
        return OPENSSL;
    }

    private static final boolean OPENSSL = !Boolean.getBoolean("bulwark.tls.jdk") && OpenSSLEngineOptions.isAvailable()
            && OpenSSLEngineOptions.isAlpnAvailable();

    /** Server TLS for operators (no client certificate). */
    public static <T extends NetServerOptions> T server(T options, PlatformPki pki) {
        options.setSsl(true);
        if (OPENSSL) {
            options.setSslEngineOptions(new OpenSSLEngineOptions());
        }
        options.setKeyCertOptions(new PemKeyCertOptions()
                .addCertValue(Buffer.buffer(pki.serverCertificatePem() + pki.caPem()))
                .addKeyValue(Buffer.buffer(pki.serverKeyPem())));
        options.setEnabledSecureTransportProtocols(new LinkedHashSet<>(PROTOCOLS));
        CIPHER_SUITES.forEach(options::addEnabledCipherSuite);
        return options;
    }

    /**
     * Server TLS for devices: a client certificate is requested, and only its possession is proved in the
     * handshake; {@link dev.bulwark.server.device.DeviceAuthenticator} decides about it afterwards, so that
     * every refusal is seen and recorded (see {@link AcceptAnyClientCertificate}).
     */
    public static <T extends NetServerOptions> T deviceServer(T options, PlatformPki pki) {
        server(options, pki);
        options.setClientAuth(ClientAuth.REQUEST);
        options.setTrustOptions(TrustOptions.wrap(new AcceptAnyClientCertificate()));
        return options;
    }
}
