package dev.bulwark.server.http;

import static org.assertj.core.api.Assertions.assertThat;
import static org.awaitility.Awaitility.await;

import dev.bulwark.server.cli.ApiClient;
import dev.bulwark.server.testkit.Backend;
import dev.bulwark.server.testkit.NodePerTest;
import dev.bulwark.server.testkit.RawHttps;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.time.Duration;
import java.util.Map;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedClass;
import org.junit.jupiter.params.provider.EnumSource;

/**
 * Request smuggling: a request whose body length can be read two ways is answered 400 with the reason, its
 * connection is closed, the request smuggled behind it never runs, and the refusal is a security event with
 * the source address and port. Every byte is written by hand over a raw TLS socket.
 */
@ParameterizedClass
@EnumSource(value = Backend.class, names = "H2")
class HttpFramingTest extends NodePerTest {
    String token;
    Path ca;

    @BeforeEach
    void start() {
        token = server.tenantWithOperator("acme", "alice", "tenant-admin");
        ca = server.dataDir().resolve("pki/ca.pem");
    }

    /** A complete request creating device {@code id}: what an attacker hides behind the first request's body. */
    private String createDevice(String id) {
        String body = "{\"id\":\"" + id + "\",\"model\":\"thermo\"}";
        return "POST /api/v1/devices HTTP/1.1\r\n"
                + "Host: localhost\r\n"
                + "Authorization: Bearer " + token + "\r\n"
                + "Content-Type: application/json\r\n"
                + "Content-Length: " + body.length() + "\r\n"
                + "\r\n"
                + body;
    }

    private long devices(String id) {
        return server.count("SELECT COUNT(*) FROM devices WHERE id = '" + id + "'");
    }

    /** Sends {@code bytes}, expects a 400 naming {@code reason}, a closed connection and a recorded event; returns the source port. */
    private void assertRefused(int port, String bytes, String reason, String channel) {
        int source;
        try (RawHttps c = RawHttps.connect(port, ca)) {
            source = c.localPort();
            c.write(bytes);
            RawHttps.Response r = c.read();
            assertThat(r.status()).as(r.body()).isEqualTo(400);
            assertThat(r.body()).contains(reason);
            assertThat(r.headers().get("connection")).isEqualTo("close");
            assertThat(c.closedByServer()).as("the connection is closed after the refusal").isTrue();
        }
        await().atMost(Duration.ofSeconds(10)).until(() -> server.count("SELECT COUNT(*) FROM security_events WHERE type = "
                + "'http-framing-refused' AND reason LIKE '%" + reason.replace("'", "''") + "%' AND channel = '" + channel
                + "' AND source_address = '127.0.0.1' AND source_port = " + source) == 1);
    }

    @Test
    void content_length_together_with_chunked_is_refused_and_the_smuggled_request_never_runs() {
        // CL.TE: a front end that honours Content-Length forwards everything; one that honours chunked sees an empty
        // body ("0\r\n\r\n") and then a second request, creating a device the first request's sender chose
        String smuggled = createDevice("smuggled-1");
        String attack = "POST /api/v1/devices HTTP/1.1\r\n"
                + "Host: localhost\r\n"
                + "Authorization: Bearer " + token + "\r\n"
                + "Content-Type: application/json\r\n"
                + "Content-Length: " + (5 + smuggled.length()) + "\r\n"
                + "Transfer-Encoding: chunked\r\n"
                + "\r\n"
                + "0\r\n\r\n"
                + smuggled;
        assertRefused(server.node().httpsPort(), attack, "both Content-Length and Transfer-Encoding", "api");
        assertThat(devices("smuggled-1")).isZero();
    }

    @Test
    void an_unknown_transfer_coding_is_refused_and_the_body_is_never_parsed_as_a_request() {
        // Netty alone takes "xchunked" for "no body": the body would be parsed as the next request
        String attack = "POST /api/v1/devices HTTP/1.1\r\n"
                + "Host: localhost\r\n"
                + "Authorization: Bearer " + token + "\r\n"
                + "Content-Type: application/json\r\n"
                + "Transfer-Encoding: xchunked\r\n"
                + "\r\n"
                + createDevice("smuggled-2");
        assertRefused(server.node().httpsPort(), attack, "unsupported transfer coding 'xchunked'", "api");
        assertThat(devices("smuggled-2")).isZero();
    }

    @Test
    void chunked_that_is_not_the_only_coding_is_refused() {
        String attack = "POST /api/v1/devices HTTP/1.1\r\n"
                + "Host: localhost\r\n"
                + "Authorization: Bearer " + token + "\r\n"
                + "Content-Type: application/json\r\n"
                + "Transfer-Encoding: chunked, gzip\r\n"
                + "\r\n"
                + "0\r\n\r\n";
        assertRefused(server.node().httpsPort(), attack, "unsupported transfer coding 'chunked, gzip'", "api");
        String twoHeaders = "POST /api/v1/devices HTTP/1.1\r\n"
                + "Host: localhost\r\n"
                + "Transfer-Encoding: chunked\r\n"
                + "Transfer-Encoding: identity\r\n"
                + "\r\n"
                + "0\r\n\r\n";
        assertRefused(server.node().httpsPort(), twoHeaders, "unsupported transfer coding 'chunked, identity'", "api");
    }

    @Test
    void transfer_encoding_on_http_1_0_and_duplicate_content_lengths_are_refused() {
        assertRefused(server.node().httpsPort(), "POST /api/v1/devices HTTP/1.0\r\nHost: localhost\r\nTransfer-Encoding: chunked\r\n\r\n"
                + "0\r\n\r\n", "Transfer-Encoding on HTTP/1.0", "api");
        assertRefused(server.node().httpsPort(), "POST /api/v1/devices HTTP/1.1\r\nHost: localhost\r\nContent-Length: 2\r\n"
                + "Content-Length: 40\r\n\r\n{}", "Content-Length", "api");
    }

    @Test
    void ambiguous_framing_is_refused_on_device_https_too() {
        String attack = "POST /device/v1/telemetry HTTP/1.1\r\n"
                + "Host: localhost\r\n"
                + "Content-Length: 5\r\n"
                + "Transfer-Encoding: chunked\r\n"
                + "\r\n"
                + "0\r\n\r\n";
        assertRefused(server.node().deviceHttpsPort(), attack, "both Content-Length and Transfer-Encoding", "device-https");
        assertRefused(server.node().deviceHttpsPort(), "POST /.well-known/est/simpleenroll HTTP/1.1\r\nHost: localhost\r\n"
                + "Transfer-Encoding: xchunked\r\n\r\n", "unsupported transfer coding 'xchunked'", "device-https");
    }

    @Test
    void a_well_formed_chunked_request_and_keep_alive_still_work() {
        String body = "{\"id\":\"chunked-1\",\"model\":\"thermo\"}";
        try (RawHttps c = RawHttps.connect(server.node().httpsPort(), ca)) {
            c.write("POST /api/v1/devices HTTP/1.1\r\n"
                    + "Host: localhost\r\n"
                    + "Authorization: Bearer " + token + "\r\n"
                    + "Content-Type: application/json\r\n"
                    + "Transfer-Encoding: chunked\r\n"
                    + "\r\n"
                    + Integer.toHexString(body.length()) + "\r\n" + body + "\r\n"
                    + "0\r\n\r\n");
            assertThat(c.read().status()).isEqualTo(201);
            // the same connection serves the next request
            c.write(createDevice("chunked-2"));
            assertThat(c.read().status()).isEqualTo(201);
        }
        assertThat(devices("chunked-1")).isEqualTo(1);
        assertThat(devices("chunked-2")).isEqualTo(1);
    }

    @Test
    void json_in_a_charset_other_than_utf_8_is_refused_with_415() {
        byte[] body = "{\"id\":\"thermo-1\",\"model\":\"m\"}".getBytes(StandardCharsets.UTF_16);
        ApiClient.Result r = api.send("POST", "/api/v1/devices", token, "application/json; charset=utf-16", body);
        assertThat(r.status()).as(r.body()).isEqualTo(415);
        assertThat(r.json().get("detail").asText()).contains("charset 'utf-16' is not accepted");
        r = api.send("POST", "/api/v1/devices", token, "application/json;charset=\"ISO-8859-1\"", "{\"id\":\"thermo-1\",\"model\":\"m\"}"
                .getBytes(StandardCharsets.ISO_8859_1));
        assertThat(r.status()).as(r.body()).isEqualTo(415);
        assertThat(devices("thermo-1")).isZero();

        assertThat(api.send("POST", "/api/v1/devices", token, "application/json; charset=UTF-8",
                "{\"id\":\"thermo-1\",\"model\":\"m\"}".getBytes(StandardCharsets.UTF_8)).status()).isEqualTo(201);
        assertThat(api.send("POST", "/api/v1/devices", token, "application/json",
                "{\"id\":\"thermo-2\",\"model\":\"m\"}".getBytes(StandardCharsets.UTF_8)).status()).isEqualTo(201);
        assertThat(api.post("/api/v1/devices", token, Map.of("id", "thermo-3", "model", "m")).status()).isEqualTo(201);
    }
}
