package dev.bulwark.server.mqtt;

import static org.assertj.core.api.Assertions.assertThat;
import static org.awaitility.Awaitility.await;

import dev.bulwark.server.testkit.Backend;
import dev.bulwark.server.testkit.MqttKit;
import dev.bulwark.server.testkit.RawMqttClient;
import dev.bulwark.server.testkit.TestServer;
import java.io.IOException;
import java.time.Duration;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.TestInstance;

/**
 * Connections that send nothing (or never a whole CONNECT) are closed after the CONNECT timeout, counted as
 * failures of their source like a failing credential (the same tarpit), and recorded once per interval per
 * source with a count, not once per connection. Each test uses a source address of its own (127.0.0.x).
 */
@TestInstance(TestInstance.Lifecycle.PER_CLASS)
class SilentConnectionsTest {
    static final Duration TIMEOUT = Duration.ofMillis(800);
    TestServer server;
    MqttKit kit;

    @BeforeAll
    void start() {
        server = TestServer.start(Backend.H2, b -> b.devPlaintextPort(0));
        kit = new MqttKit(server, server.tenantWithOperator("acme", "ops", "tenant-admin"));
        server.node().mqtt().connectTimeout(TIMEOUT);
    }

    @AfterAll
    void stop() {
        server.close();
    }

    /** A TLS connection without client certificate from {@code from}: the handshake completes, nothing follows. */
    private RawMqttClient tls(String from) throws IOException {
        return new RawMqttClient(server.node().mqttPort(), kit.ca(), null, null, from);
    }

    private long timeouts(String from, String more) {
        return server.count("SELECT COUNT(*) FROM security_events WHERE type = 'mqtt-connect-timeout' AND channel = 'mqtt' "
                + "AND source_address = '" + from + "' AND source_port > 0" + more);
    }

    /** Holds a connection open without sending anything until the server closes it; returns how long that took. */
    private long heldSilent(RawMqttClient c) {
        long t0 = System.nanoTime();
        assertThat(c.readPacket()).as("closed without an answer").isNull();
        return (System.nanoTime() - t0) / 1_000_000;
    }

    @Test
    void a_connection_that_sends_nothing_after_the_tls_handshake_is_closed_after_the_connect_timeout_and_recorded() throws Exception {
        try (RawMqttClient c = tls("127.0.0.2")) {
            assertThat(heldSilent(c)).isBetween(TIMEOUT.toMillis() - 100, TIMEOUT.toMillis() + 5_000);
        }
        await().atMost(Duration.ofSeconds(10)).until(() -> timeouts("127.0.0.2",
                " AND reason = 'no CONNECT within 800 ms (nothing sent)' AND detail = 'count: 1'") == 1);
    }

    @Test
    void many_silent_connections_from_one_source_are_recorded_once_per_interval_with_their_count() throws Exception {
        for (int i = 0; i < 5; i++) {
            try (RawMqttClient c = tls("127.0.0.3")) {
                heldSilent(c);
            }
        }
        await().atMost(Duration.ofSeconds(10)).until(() -> timeouts("127.0.0.3", "") == 1);
        assertThat(timeouts("127.0.0.3", "")).as("one record for five connections within the interval").isEqualTo(1);
        server.clock().advance(Duration.ofMillis(RecordThrottle.INTERVAL_MS + 1_000));
        try (RawMqttClient c = tls("127.0.0.3")) {
            heldSilent(c);
        }
        await().atMost(Duration.ofSeconds(10)).until(() -> timeouts("127.0.0.3", "") == 2);
        assertThat(timeouts("127.0.0.3", " AND detail LIKE 'count: 5 %'")).as("the four left out and this one").isEqualTo(1);
    }

    @Test
    void an_incomplete_connect_trickled_byte_by_byte_is_closed_at_the_connect_timeout_all_the_same() throws Exception {
        try (RawMqttClient c = tls("127.0.0.4")) {
            long t0 = System.nanoTime();
            c.send(0x10, 0x0C, 0x00);           // CONNECT, remaining length 12, the first byte of the protocol name
            // one more byte every 200 ms (each would reset an idle timer): the deadline counts from the connection
            await().atMost(Duration.ofSeconds(10)).pollInterval(Duration.ofMillis(200)).until(() -> {
                try {
                    c.send(0x04);
                    return false;
                } catch (IOException closed) {
                    return true;
                }
            });
            assertThat((System.nanoTime() - t0) / 1_000_000).isLessThan(TIMEOUT.toMillis() + 3_000);
        }
        await().atMost(Duration.ofSeconds(10)).until(() -> timeouts("127.0.0.4",
                " AND reason = 'no CONNECT within 800 ms (only an incomplete packet)'") == 1);
    }

    @Test
    void a_silent_plaintext_connection_without_any_tls_is_closed_and_recorded() throws Exception {
        try (RawMqttClient c = RawMqttClient.plaintext(server.node().mqtt().plaintextPort(), "127.0.0.5")) {
            heldSilent(c);
        }
        await().atMost(Duration.ofSeconds(10)).until(() -> timeouts("127.0.0.5", " AND reason LIKE '%(nothing sent)'") == 1);
    }

    @Test
    void silent_connections_count_towards_the_tarpit_of_their_source_like_failing_credentials() throws Exception {
        // out of the detection window of the other tests' failures: five sources failing on the same (anonymous)
        // identity within it would be a distributed attack, and this source banned rather than tarpitted
        server.clock().advance(Duration.ofMinutes(2));
        // four silent connections, then one CONNECT without credentials: the fifth failure of the source in the
        // window, two above the three free ones, so its refusal waits (250 ms << 1)
        for (int i = 0; i < 4; i++) {
            try (RawMqttClient c = tls("127.0.0.6")) {
                heldSilent(c);
            }
        }
        try (RawMqttClient c = tls("127.0.0.6")) {
            long t0 = System.nanoTime();
            assertThat(c.connect("nobody")).as("CONNACK not authorized").isEqualTo(5);
            assertThat((System.nanoTime() - t0) / 1_000_000).as("tarpit delay in ms").isGreaterThanOrEqualTo(450);
        }
    }
}
