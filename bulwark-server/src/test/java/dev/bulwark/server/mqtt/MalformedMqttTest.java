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
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.TestInstance;

/**
 * Malformed and out-of-order MQTT, byte by byte over real TLS (the device's own certificate, so that a
 * refusal is the packet's fault and not the credential's): each packet is refused, the connection closed
 * (with the CONNACK or DISCONNECT reason code the specification asks for, where it asks for one), and the
 * refusal recorded with its reason and the source address and port the server saw.
 */
@TestInstance(TestInstance.Lifecycle.PER_CLASS)
class MalformedMqttTest {
    TestServer server;
    MqttKit kit;
    MqttKit.Device device;

    @BeforeAll
    void start() {
        server = TestServer.start(Backend.H2);
        kit = new MqttKit(server, server.tenantWithOperator("acme", "ops", "tenant-admin"));
        device = kit.device("mal");
    }

    @BeforeEach
    void nextInterval() {
        // refusals of one kind from one source are recorded once per interval: start each test in a new one
        server.clock().advance(Duration.ofMillis(RecordThrottle.INTERVAL_MS + 1_000));
    }

    @AfterAll
    void stop() {
        server.close();
    }

    private RawMqttClient client() throws IOException {
        return new RawMqttClient(server.node().mqttPort(), kit.ca(), device.cert(), device.key());
    }

    /** A valid MQTT 3.1.1 CONNECT with an empty client id (assigned the device id). */
    private static final int[] CONNECT_311 = {
        0x10, 0x0C,                         // CONNECT, remaining length 12
        0x00, 0x04, 'M', 'Q', 'T', 'T',     // protocol name "MQTT"
        0x04,                               // protocol level 4 (3.1.1)
        0x02,                               // connect flags: clean session
        0x00, 0x3C,                         // keep alive 60 s
        0x00, 0x00,                         // client identifier: empty
    };

    /** A valid MQTT 5 CONNECT with an empty client id and no properties. */
    private static final int[] CONNECT_5 = {
        0x10, 0x0D,                         // CONNECT, remaining length 13
        0x00, 0x04, 'M', 'Q', 'T', 'T',     // protocol name "MQTT"
        0x05,                               // protocol level 5
        0x02,                               // connect flags: clean start
        0x00, 0x3C,                         // keep alive 60 s
        0x00,                               // properties: length 0
        0x00, 0x00,                         // client identifier: empty
    };

    /** The topic "devices/mal/telemetry" as a UTF-8 string: length 21, then the bytes. */
    private static int[] topic() {
        String t = "devices/mal/telemetry";
        int[] b = new int[2 + t.length()];
        b[0] = 0x00;
        b[1] = t.length();
        for (int i = 0; i < t.length(); i++) {
            b[2 + i] = t.charAt(i);
        }
        return b;
    }

    private static int[] concat(int[]... parts) {
        int n = 0;
        for (int[] p : parts) {
            n += p.length;
        }
        int[] out = new int[n];
        int i = 0;
        for (int[] p : parts) {
            System.arraycopy(p, 0, out, i, p.length);
            i += p.length;
        }
        return out;
    }

    private static int[] bytes(byte[] b) {
        int[] out = new int[b.length];
        for (int i = 0; i < b.length; i++) {
            out[i] = b[i] & 0xff;
        }
        return out;
    }

    /** Connects with {@code connect} and checks the CONNACK accepted it. */
    private RawMqttClient connected(int[] connect) throws IOException {
        RawMqttClient c = client();
        c.send(connect);
        byte[] connack = c.readPacket();
        assertThat(connack).isNotNull();
        assertThat(connack[0] & 0xff).isEqualTo(0x20);
        assertThat(connack[3]).as("CONNACK return code").isZero();
        return c;
    }

    private void assertRecorded(String type, String reasonFragment, int sourcePort) {
        await().atMost(Duration.ofSeconds(10)).until(() -> server.sql(h -> h.createQuery("SELECT COUNT(*) FROM security_events "
                        + "WHERE type = :type AND reason LIKE :reason AND channel = 'mqtt' AND source_address = '127.0.0.1' "
                        + "AND source_port = :port").bind("type", type).bind("reason", "%" + reasonFragment + "%")
                .bind("port", sourcePort).mapTo(Long.class).one()) == 1);
    }

    /** Sends {@code packet} and checks the server answers {@code answer} (if any), then closes, and records the refusal. */
    private void assertRefused(RawMqttClient c, int[] packet, int[] answer, String reasonFragment) throws IOException {
        int port = c.localPort();
        c.send(packet);
        if (answer != null) {
            assertThat(bytes(c.readPacket())).containsExactly(answer);
        }
        assertThat(c.readPacket()).as("the server closes the connection").isNull();
        assertRecorded("mqtt-protocol-violation", reasonFragment, port);
    }

    // ---------------------------------------------------------------- point 2: malformed and out of order

    @Test
    void a_remaining_length_of_more_than_four_bytes_is_refused_and_recorded() throws Exception {
        try (RawMqttClient c = client()) {
            assertRefused(c, new int[] {
                0x10,                               // CONNECT
                0xFF, 0xFF, 0xFF, 0xFF, 0x7F,       // remaining length in 5 bytes: at most 4 are allowed
            }, null, "bad remaining length");
        }
    }

    @Test
    void invalid_utf8_in_the_client_id_is_refused_and_recorded() throws Exception {
        try (RawMqttClient c = client()) {
            assertRefused(c, new int[] {
                0x10, 0x0E,                         // CONNECT, remaining length 14
                0x00, 0x04, 'M', 'Q', 'T', 'T',     // protocol name
                0x04, 0x02, 0x00, 0x3C,             // level 4, clean session, keep alive 60
                0x00, 0x02, 0xC3, 0x28,             // client identifier: 0xC3 0x28 is no UTF-8 sequence
            }, null, "malformed CONNECT: invalid UTF-8");
        }
    }

    @Test
    void a_nul_in_the_client_id_is_refused_and_recorded() throws Exception {
        try (RawMqttClient c = client()) {
            assertRefused(c, new int[] {
                0x10, 0x0F,                         // CONNECT, remaining length 15
                0x00, 0x04, 'M', 'Q', 'T', 'T',     // protocol name
                0x04, 0x02, 0x00, 0x3C,             // level 4, clean session, keep alive 60
                0x00, 0x03, 'm', 0x00, 'l',         // client identifier "m\0l": U+0000 is not allowed
            }, null, "must not contain U+0000");
        }
    }

    @Test
    void invalid_utf8_in_the_user_name_is_refused_and_recorded() throws Exception {
        try (RawMqttClient c = client()) {
            assertRefused(c, new int[] {
                0x10, 0x10,                         // CONNECT, remaining length 16
                0x00, 0x04, 'M', 'Q', 'T', 'T',     // protocol name
                0x04,                               // level 4
                0x82,                               // connect flags: user name, clean session
                0x00, 0x3C,                         // keep alive 60
                0x00, 0x00,                         // client identifier: empty
                0x00, 0x02, 0xED, 0xA0,             // user name: 0xED 0xA0 starts a UTF-16 surrogate, not allowed in UTF-8
            }, null, "malformed CONNECT: invalid UTF-8");
        }
    }

    @Test
    void a_nul_in_the_will_topic_is_refused_and_recorded() throws Exception {
        try (RawMqttClient c = client()) {
            assertRefused(c, new int[] {
                0x10, 0x14,                         // CONNECT, remaining length 20
                0x00, 0x04, 'M', 'Q', 'T', 'T',     // protocol name
                0x04,                               // level 4
                0x06,                               // connect flags: will flag, clean session (will QoS 0)
                0x00, 0x3C,                         // keep alive 60
                0x00, 0x00,                         // client identifier: empty
                0x00, 0x03, 'a', 0x00, 'b',         // will topic "a\0b"
                0x00, 0x01, 'x',                    // will message "x"
            }, null, "must not contain U+0000");
        }
    }

    @Test
    void a_nul_in_a_publish_topic_disconnects_with_malformed_packet_and_is_recorded_against_the_device() throws Exception {
        try (RawMqttClient c = connected(CONNECT_5)) {
            int port = c.localPort();
            c.send(
                0x30, 0x07,                         // PUBLISH QoS 0, remaining length 7
                0x00, 0x03, 'a', 0x00, 'b',         // topic "a\0b"
                0x00,                               // properties: length 0
                'x');                               // payload
            assertThat(bytes(c.readPacket())).containsExactly(0xE0, 0x02, 0x81, 0x00); // DISCONNECT 0x81 malformed packet
            assertThat(c.readPacket()).isNull();
            assertRecorded("mqtt-protocol-violation", "malformed PUBLISH", port);
            assertThat(server.count("SELECT COUNT(*) FROM security_events WHERE type = 'mqtt-protocol-violation' AND source_port = "
                    + port + " AND tenant_id = 'acme' AND identity LIKE '%mal%'")).isEqualTo(1);
        }
    }

    @Test
    void a_wrong_protocol_name_is_answered_unacceptable_protocol_version_and_recorded() throws Exception {
        try (RawMqttClient c = client()) {
            assertRefused(c, new int[] {
                0x10, 0x0C,                         // CONNECT, remaining length 12
                0x00, 0x04, 'M', 'Q', 'T', 'X',     // protocol name "MQTX"
                0x04, 0x02, 0x00, 0x3C,             // level 4, clean session, keep alive 60
                0x00, 0x00,                         // client identifier: empty
            }, new int[] {0x20, 0x02, 0x00, 0x01},  // CONNACK: unacceptable protocol version
                    "wrong protocol name or level");
        }
    }

    @Test
    void a_wrong_protocol_level_is_answered_unacceptable_protocol_version_and_recorded() throws Exception {
        try (RawMqttClient c = client()) {
            assertRefused(c, new int[] {
                0x10, 0x0C,                         // CONNECT, remaining length 12
                0x00, 0x04, 'M', 'Q', 'T', 'T',     // protocol name
                0x06,                               // protocol level 6: no such MQTT
                0x02, 0x00, 0x3C,                   // clean session, keep alive 60
                0x00, 0x00,                         // client identifier: empty
            }, new int[] {0x20, 0x02, 0x00, 0x01},  // CONNACK: unacceptable protocol version
                    "wrong protocol name or level");
        }
    }

    @Test
    void the_reserved_bit_of_the_connect_flags_is_refused_and_recorded() throws Exception {
        try (RawMqttClient c = client()) {
            assertRefused(c, new int[] {
                0x10, 0x0C,                         // CONNECT, remaining length 12
                0x00, 0x04, 'M', 'Q', 'T', 'T',     // protocol name
                0x04,                               // level 4
                0x03,                               // connect flags: clean session and the reserved bit 0
                0x00, 0x3C,                         // keep alive 60
                0x00, 0x00,                         // client identifier: empty
            }, null, "non-zero reserved flag");
        }
    }

    @Test
    void the_reserved_bit_of_an_mqtt5_connect_is_answered_malformed_packet() throws Exception {
        try (RawMqttClient c = client()) {
            assertRefused(c, new int[] {
                0x10, 0x0D,                         // CONNECT, remaining length 13
                0x00, 0x04, 'M', 'Q', 'T', 'T',     // protocol name
                0x05,                               // level 5
                0x03,                               // connect flags: clean start and the reserved bit 0
                0x00, 0x3C,                         // keep alive 60
                0x00,                               // properties: length 0
                0x00, 0x00,                         // client identifier: empty
            }, new int[] {0x20, 0x03, 0x00, 0x81, 0x00}, // CONNACK 0x81 malformed packet, no properties
                    "non-zero reserved flag");
        }
    }

    @Test
    void reserved_flags_in_the_connect_fixed_header_are_refused_and_recorded() throws Exception {
        try (RawMqttClient c = client()) {
            assertRefused(c, concat(new int[] {0x12}, // CONNECT with flag bit 1 set: the flags must be 0000
                    java.util.Arrays.copyOfRange(CONNECT_311, 1, CONNECT_311.length)), null, "reserved flags set in the CONNECT fixed header");
        }
    }

    @Test
    void a_publish_with_qos_3_is_refused_and_recorded() throws Exception {
        try (RawMqttClient c = connected(CONNECT_311)) {
            assertRefused(c, concat(new int[] {
                0x36, 0x1A,                         // PUBLISH with QoS bits 11 (QoS 3 does not exist), remaining length 26
            }, topic(), new int[] {
                0x00, 0x01,                         // packet identifier 1
                'x',                                // payload
            }), null, "Illegal QOS Level in fixed header of PUBLISH");
        }
    }

    @Test
    void a_subscribe_whose_fixed_header_flags_are_not_0010_is_refused_and_recorded() throws Exception {
        try (RawMqttClient c = connected(CONNECT_311)) {
            assertRefused(c, concat(new int[] {
                0x80, 0x1A,                         // SUBSCRIBE with flags 0000 (must be 0010), remaining length 26
                0x00, 0x01,                         // packet identifier 1
            }, topic(), new int[] {
                0x01,                               // requested QoS 1
            }), null, "fixed header of SUBSCRIBE");
        }
    }

    @Test
    void a_second_connect_on_an_mqtt5_connection_is_a_protocol_error_and_recorded() throws Exception {
        try (RawMqttClient c = connected(CONNECT_5)) {
            assertRefused(c, CONNECT_5, new int[] {0xE0, 0x02, 0x82, 0x00}, // DISCONNECT 0x82 protocol error
                    "a second CONNECT");
        }
    }

    @Test
    void a_second_connect_on_an_mqtt311_connection_closes_it_and_is_recorded() throws Exception {
        try (RawMqttClient c = connected(CONNECT_311)) {
            assertRefused(c, CONNECT_311, null, "a second CONNECT");
        }
    }

    @Test
    void a_publish_before_connect_is_refused_and_recorded() throws Exception {
        try (RawMqttClient c = client()) {
            assertRefused(c, concat(new int[] {
                0x30, 0x18,                         // PUBLISH QoS 0, remaining length 24
            }, topic(), new int[] {
                'x',                                // payload
            }), null, "a PUBLISH before CONNECT");
        }
    }

    @Test
    void a_subscribe_before_connect_is_refused_and_recorded() throws Exception {
        try (RawMqttClient c = client()) {
            assertRefused(c, concat(new int[] {
                0x82, 0x1A,                         // SUBSCRIBE, remaining length 26
                0x00, 0x01,                         // packet identifier 1
            }, topic(), new int[] {
                0x01,                               // requested QoS 1
            }), null, "a SUBSCRIBE before CONNECT");
        }
    }

    @Test
    void a_publish_sent_before_the_connack_is_refused_with_a_reason_and_recorded() throws Exception {
        // the CONNECT's authentication is held until the PUBLISH was sent: it arrives before any CONNACK, whatever the timing
        java.util.concurrent.CountDownLatch published = new java.util.concurrent.CountDownLatch(1);
        server.node().mqtt().afterAuthentication(outcome -> {
            try {
                published.await(5, java.util.concurrent.TimeUnit.SECONDS);
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
            }
        });
        try (RawMqttClient c = client()) {
            int port = c.localPort();
            c.send(CONNECT_5);
            c.send(concat(new int[] {
                0x30, 0x19,                         // PUBLISH QoS 0, remaining length 25
            }, topic(), new int[] {
                0x00,                               // properties: length 0
                'x',                                // payload
            }));
            assertRecorded("mqtt-protocol-violation", "a PUBLISH before the CONNACK", port);
            published.countDown();
            assertThat(bytes(c.readPacket())).containsExactly(0x20, 0x03, 0x00, 0x83, 0x00); // CONNACK 0x83 implementation specific error
            assertThat(c.readPacket()).as("the server closes the connection").isNull();
        } finally {
            published.countDown();
            server.node().mqtt().afterAuthentication(null);
        }
        await().atMost(Duration.ofSeconds(5)).until(() -> !server.node().mqtt().sessions().connected(dev.bulwark.protocol.TenantId.of("acme"),
                dev.bulwark.protocol.DeviceId.of("mal")));
    }

    @Test
    void garbage_after_the_tls_handshake_is_refused_and_recorded() throws Exception {
        try (RawMqttClient c = client()) {
            // an HTTP request on the MQTT port: 'G' (0x47) would be a PUBACK header, and nothing may come before CONNECT
            assertRefused(c, bytes("GET / HTTP/1.1\r\nHost: x\r\n\r\n".getBytes(java.nio.charset.StandardCharsets.US_ASCII)), null,
                    "before CONNECT (first byte 0x47)");
        }
    }

    @Test
    void a_flood_of_malformed_connections_from_one_source_is_recorded_once_per_interval_with_a_count() throws Exception {
        int[] garbage = {0x00, 0x00};           // a packet of the reserved type 0
        int first = -1;
        for (int i = 0; i < 6; i++) {
            try (RawMqttClient c = client()) {
                if (first < 0) {
                    first = c.localPort();
                }
                c.send(garbage);
                assertThat(c.readPacket()).isNull();
            }
        }
        assertRecorded("mqtt-protocol-violation", "reserved type 0", first);
        String kind = "SELECT COUNT(*) FROM security_events WHERE reason LIKE '%reserved type 0%'";
        assertThat(server.count(kind)).as("one record for the six connections so far").isEqualTo(1);
        server.clock().advance(Duration.ofMillis(RecordThrottle.INTERVAL_MS + 1_000));
        try (RawMqttClient c = client()) {
            c.send(garbage);
            assertThat(c.readPacket()).isNull();
        }
        await().atMost(Duration.ofSeconds(10)).until(() -> server.count(kind) == 2);
        assertThat(server.count(kind + " AND detail LIKE 'count: 6 %'")).as("the next record counts the five left out and itself").isEqualTo(1);
    }

    // ---------------------------------------------------------------- point 3: MQTT 5 protocol errors

    @Test
    void connack_advertises_the_topic_alias_maximum_and_a_bound_alias_publishes() throws Exception {
        try (RawMqttClient c = client()) {
            c.send(CONNECT_5);
            assertThat(bytes(c.readPacket())).containsExactly(
                0x20, 0x06,                         // CONNACK, remaining length 6
                0x00,                               // no session present
                0x00,                               // reason code: success
                0x03,                               // properties: length 3
                0x22, 0x00, MqttListener.TOPIC_ALIAS_MAXIMUM); // Topic Alias Maximum
            c.send(concat(new int[] {
                0x32, 0x1E,                         // PUBLISH QoS 1, remaining length 30
            }, topic(), new int[] {
                0x00, 0x01,                         // packet identifier 1
                0x03,                               // properties: length 3
                0x23, 0x00, 0x01,                   // Topic Alias 1: binds alias 1 to the topic
                'x',                                // payload
            }));
            assertThat(c.readPacket()[0] & 0xff).as("PUBACK").isEqualTo(0x40);
            c.send(
                0x32, 0x09,                         // PUBLISH QoS 1, remaining length 9
                0x00, 0x00,                         // topic: empty (taken from the alias)
                0x00, 0x02,                         // packet identifier 2
                0x03,                               // properties: length 3
                0x23, 0x00, 0x01,                   // Topic Alias 1
                'y');                               // payload
            assertThat(c.readPacket()[0] & 0xff).as("PUBACK").isEqualTo(0x40);
        }
        await().atMost(Duration.ofSeconds(5)).until(() -> server.stored(m -> m.deviceId().equals("mal")) >= 2);
    }

    @Test
    void a_topic_alias_above_the_advertised_maximum_disconnects_with_topic_alias_invalid() throws Exception {
        try (RawMqttClient c = connected(CONNECT_5)) {
            assertRefused(c, concat(new int[] {
                0x30, 0x1C,                         // PUBLISH QoS 0, remaining length 28
            }, topic(), new int[] {
                0x03,                               // properties: length 3
                0x23, 0x00, MqttListener.TOPIC_ALIAS_MAXIMUM + 1, // Topic Alias one above the maximum advertised in CONNACK
                'x',                                // payload
            }), new int[] {0xE0, 0x02, 0x94, 0x00}, // DISCONNECT 0x94 topic alias invalid
                    "topic alias " + (MqttListener.TOPIC_ALIAS_MAXIMUM + 1) + " outside 1..");
        }
    }

    @Test
    void a_topic_alias_of_0_disconnects_with_topic_alias_invalid() throws Exception {
        try (RawMqttClient c = connected(CONNECT_5)) {
            assertRefused(c, concat(new int[] {
                0x30, 0x1C,                         // PUBLISH QoS 0, remaining length 28
            }, topic(), new int[] {
                0x03,                               // properties: length 3
                0x23, 0x00, 0x00,                   // Topic Alias 0: never allowed
                'x',                                // payload
            }), new int[] {0xE0, 0x02, 0x94, 0x00}, // DISCONNECT 0x94 topic alias invalid
                    "topic alias 0 outside");
        }
    }

    @Test
    void a_topic_alias_never_bound_disconnects_with_protocol_error() throws Exception {
        try (RawMqttClient c = connected(CONNECT_5)) {
            assertRefused(c, new int[] {
                0x30, 0x07,                         // PUBLISH QoS 0, remaining length 7
                0x00, 0x00,                         // topic: empty (to be taken from the alias)
                0x03,                               // properties: length 3
                0x23, 0x00, 0x03,                   // Topic Alias 3: never bound on this connection
                'x',                                // payload
            }, new int[] {0xE0, 0x02, 0x82, 0x00}, // DISCONNECT 0x82 protocol error
                    "topic alias 3 was never bound");
        }
    }

    @Test
    void a_property_repeated_in_connect_is_answered_protocol_error() throws Exception {
        try (RawMqttClient c = client()) {
            assertRefused(c, new int[] {
                0x10, 0x17,                         // CONNECT, remaining length 23
                0x00, 0x04, 'M', 'Q', 'T', 'T',     // protocol name
                0x05, 0x02, 0x00, 0x3C,             // level 5, clean start, keep alive 60
                0x0A,                               // properties: length 10
                0x11, 0x00, 0x00, 0x00, 0x1E,       // Session Expiry Interval 30 s
                0x11, 0x00, 0x00, 0x00, 0x3C,       // Session Expiry Interval 60 s: the same property again
                0x00, 0x00,                         // client identifier: empty
            }, new int[] {0x20, 0x03, 0x00, 0x82, 0x00}, // CONNACK 0x82 protocol error, no properties
                    "Session Expiry Interval (0x11) appears more than once in CONNECT");
        }
    }

    @Test
    void a_property_repeated_in_publish_disconnects_with_protocol_error() throws Exception {
        try (RawMqttClient c = connected(CONNECT_5)) {
            assertRefused(c, concat(new int[] {
                0x30, 0x1D,                         // PUBLISH QoS 0, remaining length 29
            }, topic(), new int[] {
                0x04,                               // properties: length 4
                0x01, 0x00,                         // Payload Format Indicator 0
                0x01, 0x01,                         // Payload Format Indicator 1: the same property again
                'x',                                // payload
            }), new int[] {0xE0, 0x02, 0x82, 0x00}, // DISCONNECT 0x82 protocol error
                    "Payload Format Indicator (0x01) appears more than once in PUBLISH");
        }
    }

    @Test
    void a_receive_maximum_of_0_is_answered_protocol_error() throws Exception {
        try (RawMqttClient c = client()) {
            assertRefused(c, new int[] {
                0x10, 0x10,                         // CONNECT, remaining length 16
                0x00, 0x04, 'M', 'Q', 'T', 'T',     // protocol name
                0x05, 0x02, 0x00, 0x3C,             // level 5, clean start, keep alive 60
                0x03,                               // properties: length 3
                0x21, 0x00, 0x00,                   // Receive Maximum 0: not allowed
                0x00, 0x00,                         // client identifier: empty
            }, new int[] {0x20, 0x03, 0x00, 0x82, 0x00}, // CONNACK 0x82 protocol error
                    "Receive Maximum (0x21) is 0 in CONNECT");
        }
    }

    @Test
    void a_maximum_packet_size_of_0_is_answered_protocol_error() throws Exception {
        try (RawMqttClient c = client()) {
            assertRefused(c, new int[] {
                0x10, 0x12,                         // CONNECT, remaining length 18
                0x00, 0x04, 'M', 'Q', 'T', 'T',     // protocol name
                0x05, 0x02, 0x00, 0x3C,             // level 5, clean start, keep alive 60
                0x05,                               // properties: length 5
                0x27, 0x00, 0x00, 0x00, 0x00,       // Maximum Packet Size 0: not allowed
                0x00, 0x00,                         // client identifier: empty
            }, new int[] {0x20, 0x03, 0x00, 0x82, 0x00}, // CONNACK 0x82 protocol error
                    "Maximum Packet Size (0x27) is 0 in CONNECT");
        }
    }

    @Test
    void a_publish_longer_than_the_maximum_packet_size_disconnects_with_packet_too_large_before_it_is_buffered() throws Exception {
        try (RawMqttClient c = connected(CONNECT_5)) {
            assertRefused(c, concat(new int[] {
                0x30,                               // PUBLISH QoS 0
                0xC0, 0x9A, 0x0C,                   // remaining length 200,000 (64 + 26 * 128 + 12 * 16384): above the limit
            }, topic(), new int[] {
                0x00,                               // properties: length 0 (the payload never comes: refused before it)
            }), new int[] {0xE0, 0x02, 0x95, 0x00}, // DISCONNECT 0x95 packet too large
                    "PUBLISH larger than");
        }
    }

    @Test
    void invalid_utf8_in_an_mqtt5_publish_topic_disconnects_with_malformed_packet() throws Exception {
        try (RawMqttClient c = connected(CONNECT_5)) {
            assertRefused(c, new int[] {
                0x30, 0x06,                         // PUBLISH QoS 0, remaining length 6
                0x00, 0x02, 0xC3, 0x28,             // topic: 0xC3 0x28 is no UTF-8 sequence
                0x00,                               // properties: length 0
                'x',                                // payload
            }, new int[] {0xE0, 0x02, 0x81, 0x00}, // DISCONNECT 0x81 malformed packet
                    "malformed PUBLISH: invalid UTF-8");
        }
    }
}
