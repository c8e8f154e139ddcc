package dev.bulwark.server.telemetry;

import java.io.ByteArrayInputStream;
import java.io.ByteArrayOutputStream;
import java.io.DataInputStream;
import java.io.DataOutputStream;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.util.ArrayList;
import java.util.List;
import java.util.Objects;

/**
 * The binary forms of stored device messages.
 *
 * <ul>
 *   <li>A <b>log block</b> (format 1) holds the messages of one group commit, of any devices, in commit order:
 *   per message tenant, device, kind, key id, receive time, QoS, channel, source, connection and the payload.
 *   Sequence numbers are not written: the block's first one is known where the block is kept (its log row
 *   id {@code << 16}, or its file record's header), and the others follow it.</li>
 *   <li>A <b>segment</b> (format 2) holds messages of one device, one kind and one data key in sequence order;
 *   tenant, device, kind and key id are columns of its row. Channel, source and connection are written only
 *   when they differ from the previous message's (a segment usually comes from one connection).</li>
 * </ul>
 *
 * Payloads are opaque here: sealed or not, they are copied as they are.
 */
public final class MessageCodec {
    static final byte LOG_FORMAT = 1;
    static final byte SEGMENT_FORMAT = 2;
    /** Positions within a log block: the low 16 bits of a sequence number. */
    static final int MAX_PER_BLOCK = 1 << 16;

    private static final int NEW_CHANNEL = 1;
    private static final int NEW_SOURCE = 2;
    private static final int NEW_CONNECTION = 4;

    private MessageCodec() {
    }

    /** A growable buffer reused across blocks, so that encoding does not allocate per message. */
    static final class Buffer extends ByteArrayOutputStream {
        final DataOutputStream out = new DataOutputStream(this);
        int messages;

        Buffer(int initial) {
            super(initial);
        }

        /** The buffer itself (valid up to {@link #size()}). */
        byte[] bytes() {
            return buf;
        }

        void begin(byte format) {
            reset();
            messages = 0;
            write(format);
        }
    }

    /** Appends one message (its payload as stored) to a log block started with {@code begin(LOG_FORMAT)}. */
    static void appendLog(Buffer b, StoredMessage m) {
        try {
            DataOutputStream o = b.out;
            o.writeUTF(m.tenantId());
            o.writeUTF(m.deviceId());
            o.writeUTF(m.kind());
            o.writeUTF(m.keyId() == null ? "" : m.keyId());
            o.writeLong(m.receivedMs());
            o.writeByte(m.qos());
            o.writeUTF(m.channel());
            o.writeUTF(m.source());
            o.writeUTF(m.connection());
            o.writeInt(m.payload().length);
            o.write(m.payload());
            b.messages++;
        } catch (IOException e) {
            throw new UncheckedIOException(e); // a byte array stream does not fail
        }
    }

    /** The messages of a log block whose first message has sequence number {@code firstSeq}. */
    public static List<StoredMessage> decodeLog(long firstSeq, byte[] body) {
        List<StoredMessage> out = new ArrayList<>();
        try (DataInputStream in = new DataInputStream(new ByteArrayInputStream(body))) {
            if (in.readByte() != LOG_FORMAT) {
                throw new IllegalStateException("telemetry log block " + firstSeq + " is not a log block");
            }
            int position = 0;
            while (in.available() > 0) {
                String tenant = in.readUTF();
                String device = in.readUTF();
                String kind = in.readUTF();
                String keyId = in.readUTF();
                long received = in.readLong();
                int qos = in.readByte();
                String channel = in.readUTF();
                String source = in.readUTF();
                String connection = in.readUTF();
                byte[] payload = new byte[in.readInt()];
                in.readFully(payload);
                out.add(new StoredMessage(tenant, device, kind, firstSeq + position++, received, qos, channel, source,
                        connection, keyId.isEmpty() ? null : keyId, payload));
            }
        } catch (IOException e) {
            throw new IllegalStateException("telemetry log block " + firstSeq + " is damaged: " + e);
        }
        return out;
    }

    /** Encodes messages of one tenant, device, kind and key, in sequence order, as a segment. */
    static byte[] encodeSegment(Buffer b, List<StoredMessage> messages) {
        b.begin(SEGMENT_FORMAT);
        try {
            DataOutputStream o = b.out;
            StoredMessage prev = null;
            for (StoredMessage m : messages) {
                int flags = 0;
                if (prev == null || !prev.channel().equals(m.channel())) {
                    flags |= NEW_CHANNEL;
                }
                if (prev == null || !prev.source().equals(m.source())) {
                    flags |= NEW_SOURCE;
                }
                if (prev == null || !prev.connection().equals(m.connection())) {
                    flags |= NEW_CONNECTION;
                }
                o.writeLong(m.seq());
                o.writeLong(m.receivedMs());
                o.writeByte(m.qos());
                o.writeByte(flags);
                if ((flags & NEW_CHANNEL) != 0) {
                    o.writeUTF(m.channel());
                }
                if ((flags & NEW_SOURCE) != 0) {
                    o.writeUTF(m.source());
                }
                if ((flags & NEW_CONNECTION) != 0) {
                    o.writeUTF(m.connection());
                }
                o.writeInt(m.payload().length);
                o.write(m.payload());
                prev = m;
            }
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
        return b.toByteArray();
    }

    /** The messages of a segment whose row holds {@code tenant}, {@code device}, {@code kind} and {@code keyId}. */
    public static List<StoredMessage> decodeSegment(String tenant, String device, String kind, String keyId, byte[] body) {
        List<StoredMessage> out = new ArrayList<>();
        try (DataInputStream in = new DataInputStream(new ByteArrayInputStream(body))) {
            if (in.readByte() != SEGMENT_FORMAT) {
                throw new IllegalStateException("not a telemetry segment");
            }
            String channel = null;
            String source = null;
            String connection = null;
            while (in.available() > 0) {
                long seq = in.readLong();
                long received = in.readLong();
                int qos = in.readByte();
                int flags = in.readByte();
                if ((flags & NEW_CHANNEL) != 0) {
                    channel = in.readUTF();
                }
                if ((flags & NEW_SOURCE) != 0) {
                    source = in.readUTF();
                }
                if ((flags & NEW_CONNECTION) != 0) {
                    connection = in.readUTF();
                }
                byte[] payload = new byte[in.readInt()];
                in.readFully(payload);
                out.add(new StoredMessage(tenant, device, kind, seq, received, qos, Objects.requireNonNull(channel),
                        Objects.requireNonNull(source), Objects.requireNonNull(connection), keyId, payload));
            }
        } catch (IOException | NullPointerException e) {
            throw new IllegalStateException("a telemetry segment of " + tenant + "/" + device + " is damaged");
        }
        return out;
    }
}
