package dev.bulwark.server.mqtt;

import static dev.bulwark.server.mqtt.MqttGuard.MALFORMED;
import static dev.bulwark.server.mqtt.MqttGuard.PROTOCOL_ERROR;

import dev.bulwark.server.mqtt.MqttGuard.Problem;
import io.netty.buffer.ByteBuf;
import java.util.BitSet;

/**
 * MQTT 5 properties blocks, read byte by byte for {@link MqttGuard}: which identifiers each packet may carry, which
 * may repeat, and the values the specification bounds (MQTT 5.0, section 2.2.2 and table 2-4). Netty's decoder
 * would merge repeated properties silently; here a repetition is a protocol error, with its name.
 */
final class Mqtt5Properties {
    private Mqtt5Properties() {
    }

    private static final int BYTE = 1;
    private static final int TWO = 2;
    private static final int FOUR = 4;
    private static final int VARINT = 5;
    private static final int STRING = 6;
    private static final int BINARY = 7;
    private static final int PAIR = 8;

    /** Property identifier → [value kind, may repeat (1) or not (0)], and names (MQTT 5.0, table 2-4). */
    private static final int[][] KINDS = new int[0x2B][];
    private static final String[] NAMES = new String[0x2B];

    private static void property(int id, String name, int kind, boolean repeats) {
        KINDS[id] = new int[] {kind, repeats ? 1 : 0};
        NAMES[id] = name;
    }

    static {
        property(0x01, "Payload Format Indicator", BYTE, false);
        property(0x02, "Message Expiry Interval", FOUR, false);
        property(0x03, "Content Type", STRING, false);
        property(0x08, "Response Topic", STRING, false);
        property(0x09, "Correlation Data", BINARY, false);
        property(0x0B, "Subscription Identifier", VARINT, false);
        property(0x11, "Session Expiry Interval", FOUR, false);
        property(0x15, "Authentication Method", STRING, false);
        property(0x16, "Authentication Data", BINARY, false);
        property(0x17, "Request Problem Information", BYTE, false);
        property(0x18, "Will Delay Interval", FOUR, false);
        property(0x19, "Request Response Information", BYTE, false);
        property(0x21, "Receive Maximum", TWO, false);
        property(0x22, "Topic Alias Maximum", TWO, false);
        property(0x23, "Topic Alias", TWO, false);
        property(0x26, "User Property", PAIR, true);
        property(0x27, "Maximum Packet Size", FOUR, false);
    }

    static final BitSet CONNECT = ids(0x11, 0x21, 0x27, 0x22, 0x19, 0x17, 0x26, 0x15, 0x16);
    static final BitSet WILL = ids(0x18, 0x01, 0x02, 0x03, 0x08, 0x09, 0x26);
    /** A client's PUBLISH carries no Subscription Identifier [MQTT-3.3.4-6]. */
    static final BitSet PUBLISH = ids(0x01, 0x02, 0x23, 0x08, 0x09, 0x26, 0x03);
    static final BitSet SUBSCRIBE = ids(0x0B, 0x26);

    private static BitSet ids(int... ids) {
        BitSet b = new BitSet();
        for (int id : ids) {
            b.set(id);
        }
        return b;
    }

    static Problem check(ByteBuf body, String packet, BitSet allowed) {
        return check(body, packet, allowed, new int[1]);
    }

    /**
     * Reads a properties block: each identifier allowed in {@code packet}, none repeated that may appear only
     * once, and the values the specification bounds within bounds. Stores a Topic Alias in {@code alias[0]}.
     */
    static Problem check(ByteBuf body, String packet, BitSet allowed, int[] alias) {
        int length = varint(body);
        if (length < 0 || length > body.readableBytes()) {
            return new Problem("malformed " + packet + ": bad property length", MALFORMED);
        }
        ByteBuf props = body.readSlice(length);
        BitSet seen = new BitSet();
        while (props.isReadable()) {
            int id = varint(props);
            if (id < 0 || id >= KINDS.length || KINDS[id] == null || !allowed.get(id)) {
                return new Problem(String.format("malformed %s: property 0x%02x is not allowed there", packet, id), MALFORMED);
            }
            String name = NAMES[id];
            if (KINDS[id][1] == 0 && seen.get(id)) {
                return new Problem(String.format("%s (0x%02x) appears more than once in %s", name, id, packet), PROTOCOL_ERROR);
            }
            seen.set(id);
            long value = switch (KINDS[id][0]) {
                case BYTE -> props.readUnsignedByte();
                case TWO -> props.readUnsignedShort();
                case FOUR -> props.readUnsignedInt();
                case VARINT -> varint(props);
                case STRING, BINARY -> {
                    props.skipBytes(props.readUnsignedShort());
                    yield 0;
                }
                default -> {
                    props.skipBytes(props.readUnsignedShort());
                    props.skipBytes(props.readUnsignedShort());
                    yield 0;
                }
            };
            if ((id == 0x21 || id == 0x27 || id == 0x0B) && value == 0) {
                return new Problem(String.format("%s (0x%02x) is 0 in %s", name, id, packet), PROTOCOL_ERROR);
            }
            if ((id == 0x17 || id == 0x19 || id == 0x01) && value > 1) {
                return new Problem(String.format("%s (0x%02x) is %d in %s (0 or 1)", name, id, value, packet), PROTOCOL_ERROR);
            }
            if (id == 0x0B && value < 0) {
                return new Problem("malformed " + packet + ": bad Subscription Identifier", MALFORMED);
            }
            if (id == 0x23) {
                alias[0] = (int) value;
            }
        }
        return null;
    }

    /** A variable byte integer (at most 4 bytes); -1 when longer. */
    private static int varint(ByteBuf b) {
        int value = 0;
        for (int i = 0, multiplier = 1; i < 4; i++, multiplier *= 128) {
            int digit = b.readUnsignedByte();
            value += (digit & 127) * multiplier;
            if ((digit & 128) == 0) {
                return value;
            }
        }
        return -1;
    }

}
