package dev.bulwark.server.http;

import static org.assertj.core.api.Assertions.assertThat;
import static org.awaitility.Awaitility.await;

import dev.bulwark.server.testkit.Backend;
import dev.bulwark.server.testkit.MqttKit;
import dev.bulwark.server.testkit.NodePerTest;
import dev.bulwark.server.testkit.RawHttps;
import java.nio.file.Path;
import java.time.Duration;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedClass;
import org.junit.jupiter.params.provider.EnumSource;

/**
 * Nothing large before authentication: a request announcing a 40 MiB body is answered before a byte of that
 * body is sent, so the server cannot have read or buffered it; the connection is closed with the body unread,
 * and the refusal is recorded with the source address and port. Bytes written by hand over raw TLS.
 */
@ParameterizedClass
@EnumSource(value = Backend.class, names = "H2")
class BodyAfterAuthenticationTest extends NodePerTest {
    static final int FORTY_MIB = 40 * 1024 * 1024;
    Path ca;

    @BeforeEach
    void start() {
        ca = server.dataDir().resolve("pki/ca.pem");
    }

    /** Sends only the head of a request and expects {@code status} without sending any body; returns the source port. */
    private int refusedBeforeBody(int port, String head, int status) {
        try (RawHttps c = RawHttps.connect(port, ca)) {
            c.write(head);
            RawHttps.Response r = c.read(); // no body byte has been written: the answer cannot depend on it
            assertThat(r.status()).as(r.body()).isEqualTo(status);
            assertThat(r.headers().get("connection")).isEqualTo("close");
            assertThat(c.closedByServer()).as("the connection is closed with the body unread").isTrue();
            return c.localPort();
        }
    }

    private void awaitEvent(String type, String reason, String channel, int sourcePort) {
        await().atMost(Duration.ofSeconds(10)).until(() -> server.count("SELECT COUNT(*) FROM security_events WHERE type = '" + type
                + "' AND reason = '" + reason + "' AND channel = '" + channel + "' AND source_address = '127.0.0.1' AND source_port = "
                + sourcePort) == 1);
    }

    private static String upload(String authorization, String framing) {
        return "POST /api/v1/firmware HTTP/1.1\r\n"
                + "Host: localhost\r\n"
                + (authorization == null ? "" : "Authorization: " + authorization + "\r\n")
                + "Content-Type: application/json\r\n"
                + framing + "\r\n"
                + "\r\n";
    }

    @Test
    void an_anonymous_40_mib_firmware_upload_is_answered_401_before_its_body_is_sent() {
        int port = refusedBeforeBody(server.node().httpsPort(), upload(null, "Content-Length: " + FORTY_MIB), 401);
        awaitEvent("api-authentication-failed", "missing", "api", port);
    }

    @Test
    void a_wrong_token_with_a_40_mib_body_is_answered_401_before_its_body_is_sent() {
        int port = refusedBeforeBody(server.node().httpsPort(), upload("Bearer bwt_0123456789abcdef.notarealsecret",
                "Content-Length: " + FORTY_MIB), 401);
        await().atMost(Duration.ofSeconds(10)).until(() -> server.count("SELECT COUNT(*) FROM security_events WHERE type = "
                + "'api-authentication-failed' AND channel = 'api' AND source_port = " + port) == 1);
    }

    @Test
    void an_anonymous_chunked_upload_is_answered_401_before_its_first_chunk() {
        int port = refusedBeforeBody(server.node().httpsPort(), upload(null, "Transfer-Encoding: chunked"), 401);
        awaitEvent("api-authentication-failed", "missing", "api", port);
    }

    @Test
    void an_authenticated_caller_announcing_more_than_the_routes_limit_gets_413_before_the_body() {
        String token = server.tenantWithOperator("acme", "pub", "firmware-publisher");
        try (RawHttps c = RawHttps.connect(server.node().httpsPort(), ca)) {
            c.write(upload("Bearer " + token, "Content-Length: " + (49 * 1024 * 1024)));
            RawHttps.Response r = c.read();
            assertThat(r.status()).isEqualTo(413);
            assertThat(r.body()).contains("exceeds the limit of " + (48 * 1024 * 1024) + " bytes");
            assertThat(c.closedByServer()).isTrue();
        }
        // a small route's own limit (the API default) is the one announced for it
        try (RawHttps c = RawHttps.connect(server.node().httpsPort(), ca)) {
            c.write("POST /api/v1/devices HTTP/1.1\r\nHost: localhost\r\nAuthorization: Bearer " + token
                    + "\r\nContent-Type: application/json\r\nContent-Length: " + FORTY_MIB + "\r\n\r\n");
            RawHttps.Response r = c.read();
            assertThat(r.status()).isEqualTo(413);
            assertThat(c.closedByServer()).isTrue();
        }
    }

    @Test
    void anonymous_telemetry_and_est_requests_with_large_bodies_are_refused_before_the_body_on_device_https() {
        int port = refusedBeforeBody(server.node().deviceHttpsPort(), "POST /device/v1/telemetry HTTP/1.1\r\nHost: localhost\r\n"
                + "Content-Type: application/json\r\nContent-Length: " + FORTY_MIB + "\r\n\r\n", 401);
        awaitEvent("device-https-authentication-failed", "no-credentials", "device-https", port);

        port = refusedBeforeBody(server.node().deviceHttpsPort(), "POST /device/v1/events HTTP/1.1\r\nHost: localhost\r\n"
                + "Authorization: Basic bWV0ZXItMUBhY21lOm5vdC1hLXRva2Vu\r\n" // meter-1@acme:not-a-token
                + "Transfer-Encoding: chunked\r\n\r\n", 401);
        int eventsPort = port;
        await().atMost(Duration.ofSeconds(10)).until(() -> server.count("SELECT COUNT(*) FROM security_events WHERE "
                + "type = 'device-https-authentication-failed' AND source_port = " + eventsPort) == 1);

        port = refusedBeforeBody(server.node().deviceHttpsPort(), "POST /.well-known/est/simpleenroll HTTP/1.1\r\nHost: localhost\r\n"
                + "Content-Type: application/pkcs10\r\nContent-Length: " + FORTY_MIB + "\r\n\r\n", 401);
        awaitEvent("est-authentication-failed", "no-credentials", "est", port);

        port = refusedBeforeBody(server.node().deviceHttpsPort(), "POST /device/v1/firmware/fw-0123456789abcdef/report HTTP/1.1\r\n"
                + "Host: localhost\r\nContent-Type: application/json\r\nContent-Length: " + FORTY_MIB + "\r\n\r\n", 404);
        awaitEvent("device-https-authentication-failed", "no-credentials", "device-https", port);
    }

    @Test
    void an_authenticated_device_announcing_more_than_the_payload_limit_gets_413_before_the_body() {
        String token = server.tenantWithOperator("acme", "ops", "fleet-operator");
        MqttKit kit = new MqttKit(server, token);
        MqttKit.Device d = kit.device("meter-1");
        int port;
        try (RawHttps c = RawHttps.connect(server.node().deviceHttpsPort(), ca, d.cert(), d.key())) {
            port = c.localPort();
            c.write("POST /device/v1/telemetry HTTP/1.1\r\nHost: localhost\r\nContent-Type: application/json\r\nContent-Length: "
                    + FORTY_MIB + "\r\n\r\n");
            RawHttps.Response r = c.read();
            assertThat(r.status()).isEqualTo(413);
            assertThat(c.closedByServer()).isTrue();
        }
        int p = port;
        await().atMost(Duration.ofSeconds(10)).until(() -> server.count("SELECT COUNT(*) FROM security_events WHERE "
                + "type = 'payload-too-large' AND tenant_id = 'acme' AND source_port = " + p) == 1);
        assertThat(server.stored()).isEmpty();
    }

    @Test
    void an_authenticated_small_upload_still_works_and_keeps_the_connection() {
        String token = server.tenantWithOperator("acme", "admin", "tenant-admin");
        String body = "{\"id\":\"thermo-1\",\"model\":\"thermo\"}";
        try (RawHttps c = RawHttps.connect(server.node().httpsPort(), ca)) {
            c.write("POST /api/v1/devices HTTP/1.1\r\nHost: localhost\r\nAuthorization: Bearer " + token
                    + "\r\nContent-Type: application/json\r\nContent-Length: " + body.length() + "\r\n\r\n" + body);
            assertThat(c.read().status()).isEqualTo(201);
            c.write("GET /api/v1/devices/thermo-1 HTTP/1.1\r\nHost: localhost\r\nAuthorization: Bearer " + token + "\r\n\r\n");
            assertThat(c.read().status()).isEqualTo(200);
            c.write("GET /api/openapi.json HTTP/1.1\r\nHost: localhost\r\nAuthorization: Bearer " + token + "\r\n\r\n");
            assertThat(c.read().status()).isEqualTo(200);
            c.write("GET /api/v1/devices/thermo-1 HTTP/1.1\r\nHost: localhost\r\nAuthorization: Bearer " + token + "\r\n\r\n");
            assertThat(c.read().status()).isEqualTo(200);
        }
    }
}
