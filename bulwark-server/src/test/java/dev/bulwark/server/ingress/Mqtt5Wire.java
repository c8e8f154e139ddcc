package dev.bulwark.server.ingress;

import dev.bulwark.server.testkit.RawMqttClient;
import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.nio.charset.StandardCharsets;

/** MQTT 5 packets written byte by byte on a {@link RawMqttClient}, so that a test reads the server's reason codes. */
final class Mqtt5Wire {
    private Mqtt5Wire() {
    }

    /** A Will: topic, QoS, retain flag, payload. */
    record Will(String topic, int qos, boolean retain, byte[] payload) {
    }

    /** MQTT 5 CONNECT (clean start, keep alive 60 s, no properties), with a Will when given; returns the CONNACK reason code. */
    static int connect(RawMqttClient c, String clientId, Will will) throws IOException {
        ByteArrayOutputStream b = new ByteArrayOutputStream();
        string(b, "MQTT");
        b.write(5);                                                     // protocol level 5.0
        int flags = 0x02;                                               // clean start
        if (will != null) {
            flags |= 0x04 | (will.qos() << 3) | (will.retain() ? 0x20 : 0);
        }
        b.write(flags);
        b.write(0);
        b.write(60);                                                    // keep alive
        b.write(0);                                                     // no properties
        string(b, clientId);
        if (will != null) {
            b.write(0);                                                 // no Will properties
            string(b, will.topic());
            binary(b, will.payload());
        }
        c.send(packet(0x10, b.toByteArray()));
        byte[] connack = c.readPacket();
        if (connack == null || (connack[0] & 0xff) != 0x20) {
            throw new IOException("expected CONNACK");
        }
        return connack[3] & 0xff;                                       // fixed header, length, flags, reason code
    }

    /** MQTT 5 PUBLISH with packet id {@code id} (QoS 1 or 2), no properties. */
    static void publish(RawMqttClient c, String topic, int qos, boolean retain, byte[] payload, int id) throws IOException {
        ByteArrayOutputStream b = new ByteArrayOutputStream();
        string(b, topic);
        if (qos > 0) {
            b.write(id >> 8);
            b.write(id & 0xff);
        }
        b.write(0);                                                     // no properties
        b.write(payload, 0, payload.length);
        c.send(packet(0x30 | (qos << 1) | (retain ? 1 : 0), b.toByteArray()));
    }

    /** What came back for a PUBLISH: PUBACK (reason 0), a DISCONNECT's reason code, or -1 when the connection closed silently. */
    static int answer(RawMqttClient c) {
        byte[] p = c.readPacket();
        if (p == null) {
            return -1;
        }
        int type = (p[0] & 0xff) >> 4;
        if (type == 4) {
            return p.length > 4 ? p[4] & 0xff : 0;                      // PUBACK: reason code omitted means success
        }
        if (type == 14) {
            return p.length > 2 ? p[2] & 0xff : 0;                      // DISCONNECT reason code
        }
        return -2;
    }

    static final int PUBACK = 0x00;

    private static byte[] packet(int header, byte[] body) {
        ByteArrayOutputStream out = new ByteArrayOutputStream();
        out.write(header);
        int len = body.length;
        do {
            int d = len % 128;
            len /= 128;
            out.write(len > 0 ? d | 0x80 : d);
        } while (len > 0);
        out.write(body, 0, body.length);
        return out.toByteArray();
    }

    private static void string(ByteArrayOutputStream o, String s) {
        binary(o, s.getBytes(StandardCharsets.UTF_8));
    }

    private static void binary(ByteArrayOutputStream o, byte[] b) {
        o.write(b.length >> 8);
        o.write(b.length & 0xff);
        o.write(b, 0, b.length);
    }
}
