package dev.bulwark.server.monitor;

import static org.assertj.core.api.Assertions.assertThat;
import static org.awaitility.Awaitility.await;

import dev.bulwark.server.testkit.Backend;
import dev.bulwark.server.testkit.NodePerTest;
import dev.bulwark.server.testkit.Openssl;
import dev.bulwark.server.testkit.RawHttps;
import java.io.IOException;
import java.io.InputStream;
import java.net.Socket;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.Map;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedClass;
import org.junit.jupiter.params.provider.EnumSource;

/**
 * Failed TLS handshakes on the API and device HTTPS listeners are security events with the source address,
 * port and reason; a flood of them from one source is one event per interval plus a count.
 */
@ParameterizedClass
@EnumSource(value = Backend.class, names = "H2")
class HandshakeFailuresTest extends NodePerTest {

    private long events(String channel, String reason, String more) {
        return server.count("SELECT COUNT(*) FROM security_events WHERE type = 'tls-handshake-failed' AND channel = '" + channel
                + "' AND reason = '" + reason + "' AND source_address = '127.0.0.1'" + more);
    }

    /** Opens a TCP connection, sends plaintext HTTP to the TLS port, and returns the local port once the server closed it. */
    private int plaintextTo(int port) throws IOException {
        try (Socket s = new Socket("127.0.0.1", port)) {
            s.setSoTimeout(10_000);
            s.getOutputStream().write("GET /api/v1/devices HTTP/1.1\r\nHost: localhost\r\n\r\n".getBytes(StandardCharsets.US_ASCII));
            InputStream in = s.getInputStream();
            byte[] buf = new byte[512];
            try {
                while (in.read(buf) >= 0) {
                    // whatever the TLS layer answers (an alert, or nothing): wait for the close
                }
            } catch (IOException e) {
                // a reset is a close too
            }
            return s.getLocalPort();
        }
    }

    private static String openssl(Openssl o, String... args) {
        try {
            return o.run(args);
        } catch (IllegalStateException e) {
            return e.getMessage();
        }
    }

    @Test
    void plaintext_http_sent_to_the_tls_ports_is_recorded_with_its_source_port() throws IOException {
        int api = plaintextTo(server.node().httpsPort());
        int device = plaintextTo(server.node().deviceHttpsPort());
        int mqtt = plaintextTo(server.node().mqttPort());
        await().atMost(Duration.ofSeconds(10)).until(() -> events("api", "not-tls", " AND source_port = " + api) == 1
                && events("device-https", "not-tls", " AND source_port = " + device) == 1
                && events("mqtt", "not-tls", " AND source_port = " + mqtt) == 1);
        // the event does not carry what the peer sent (a hex dump of an attacker's bytes)
        String detail = server.sql(h -> h.createQuery("SELECT detail FROM security_events WHERE type = 'tls-handshake-failed' AND source_port = "
                + api).mapTo(String.class).one());
        assertThat(detail).isEqualTo("the peer did not speak TLS");
    }

    @Test
    void tls_1_1_and_a_cipher_suite_without_forward_secrecy_are_refused_and_recorded() {
        Openssl o = Openssl.inTempDir();
        for (int port : new int[] {server.node().httpsPort(), server.node().deviceHttpsPort()}) {
            String out = openssl(o, "s_client", "-connect", "127.0.0.1:" + port, "-tls1_1", "-cipher", "DEFAULT@SECLEVEL=0");
            assertThat(out).contains("alert protocol version").contains("Cipher is (NONE)");
        }
        await().atMost(Duration.ofSeconds(10)).until(() -> events("api", "protocol-version", " AND source_port > 0") == 1
                && events("device-https", "protocol-version", " AND source_port > 0") == 1);

        String out = openssl(o, "s_client", "-connect", "127.0.0.1:" + server.node().httpsPort(), "-tls1_2", "-cipher", "AES128-SHA");
        assertThat(out).containsAnyOf("handshake failure", "alert");
        // one source, second failure in the interval: counted, not recorded on its own
        await().during(Duration.ofSeconds(1)).atMost(Duration.ofSeconds(5))
                .until(() -> server.count("SELECT COUNT(*) FROM security_events WHERE type = 'tls-handshake-failed' AND channel = 'api'") == 1);
    }

    @Test
    void a_client_certificate_of_an_unknown_ca_on_device_https_is_refused_with_its_reason_and_source_port() {
        Openssl o = Openssl.inTempDir();
        o.run("req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes", "-keyout", "rogue.key", "-out", "rogue.pem",
                "-subj", "/CN=meter-1", "-days", "2");
        int port;
        try (RawHttps c = RawHttps.connect(server.node().deviceHttpsPort(), server.dataDir().resolve("pki/ca.pem"), o.file("rogue.pem"),
                o.file("rogue.key"))) {
            port = c.localPort();
            c.write("POST /device/v1/telemetry HTTP/1.1\r\nHost: localhost\r\nContent-Type: application/json\r\nContent-Length: 2\r\n\r\n");
            assertThat(c.read().status()).isEqualTo(401);
        }
        await().atMost(Duration.ofSeconds(10)).until(() -> server.count("SELECT COUNT(*) FROM security_events WHERE type = "
                + "'device-https-authentication-failed' AND reason = 'certificate-untrusted' AND source_address = '127.0.0.1' "
                + "AND source_port = " + port) == 1);
    }

    @Test
    void a_flood_of_failed_handshakes_from_one_source_is_one_event_and_a_count() throws IOException {
        for (int i = 0; i < 20; i++) {
            plaintextTo(server.node().deviceHttpsPort());
        }
        await().atMost(Duration.ofSeconds(10)).until(() -> events("device-https", "not-tls", "") == 1);
        await().during(Duration.ofSeconds(1)).atMost(Duration.ofSeconds(5)).until(() -> events("device-https", "not-tls", "") == 1);

        // the interval's end: the listener's own aggregator does this once a minute; here one of the same kind
        HandshakeFailures f = new HandshakeFailures(null, server.node().securityEvents(), server.clock(), "test", 60_000, 2);
        for (int i = 0; i < 25; i++) {
            f.failed("192.0.2.7", 40_000 + i, new io.netty.handler.ssl.NotSslRecordException("not an SSL/TLS record: 474554"));
        }
        f.failed("192.0.2.8", 1, new javax.net.ssl.SSLHandshakeException("no cipher suites in common"));
        f.failed("192.0.2.9", 2, new javax.net.ssl.SSLHandshakeException("no cipher suites in common")); // beyond the tracked sources
        f.failed("192.0.2.10", 3, new javax.net.ssl.SSLHandshakeException("no cipher suites in common"));
        f.flush();
        await().atMost(Duration.ofSeconds(10)).until(() -> server.count("SELECT COUNT(*) FROM security_events WHERE channel = 'test'") == 4);
        Map<String, Object> summary = server.sql(h -> h.createQuery("SELECT * FROM security_events WHERE channel = 'test' AND reason = 'repeated' "
                + "AND source_address = '192.0.2.7'").mapToMap().one());
        assertThat((String) summary.get("detail")).contains("24 more failed handshakes in 60 s, last: not-tls");
        assertThat(summary.get("source_port")).isEqualTo(40_024);
        assertThat(server.count("SELECT COUNT(*) FROM security_events WHERE channel = 'test' AND reason = 'no-shared-cipher' "
                + "AND source_address = '192.0.2.8'")).isEqualTo(1);
        String untracked = server.sql(h -> h.createQuery("SELECT detail FROM security_events WHERE channel = 'test' AND reason = 'repeated' "
                + "AND source_address IS NULL").mapTo(String.class).one());
        assertThat(untracked).contains("2 failed handshakes");
    }
}
