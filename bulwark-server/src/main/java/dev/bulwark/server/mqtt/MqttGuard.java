package dev.bulwark.server.mqtt;

import dev.bulwark.server.device.DevicePrincipal;
import io.netty.buffer.ByteBuf;
import io.netty.buffer.Unpooled;
import io.netty.channel.ChannelDuplexHandler;
import io.netty.channel.ChannelFutureListener;
import io.netty.channel.ChannelHandlerContext;
import io.netty.channel.ChannelPipeline;
import io.netty.channel.ChannelPromise;
import io.netty.handler.codec.ByteToMessageDecoder;
import io.netty.handler.codec.TooLongFrameException;
import io.netty.handler.codec.mqtt.MqttConnAckMessage;
import io.netty.handler.codec.mqtt.MqttIdentifierRejectedException;
import io.netty.handler.codec.mqtt.MqttMessage;
import io.netty.handler.codec.mqtt.MqttMessageType;
import io.netty.handler.codec.mqtt.MqttProperties;
import io.netty.handler.codec.mqtt.MqttUnacceptableProtocolVersionException;
import io.netty.util.AttributeKey;
import io.netty.util.ReferenceCountUtil;
import java.net.InetSocketAddress;
import java.net.SocketAddress;
import java.util.BitSet;
import java.util.List;
import java.util.concurrent.ScheduledFuture;
import java.util.concurrent.TimeUnit;

/**
 * The one place every byte of an MQTT connection goes through before Vert.x sees it: refuses malformed and
 * out-of-order packets and the MQTT 5 protocol errors the decoder lets pass, records each refusal with its
 * reason and the peer's address and port, and closes connections that send no CONNECT in time.
 *
 * <p>Two handlers share one state per connection: {@link Frames} before Netty's {@code MqttDecoder} reads
 * the raw bytes packet by packet (the order of packets, the length field, and MQTT 5 properties, whose
 * repetitions the decoder would silently merge); {@link Decoded} after the decoder records every packet it
 * failed to decode (invalid UTF-8 or NUL in strings, reserved flags, QoS 3, wrong protocol name or level)
 * instead of letting it vanish in Vert.x, and learns the Topic Alias Maximum from the CONNACK going out.
 *
 * <p>A refused connection gets the reason code the specification asks for, where it asks for one: a CONNACK
 * while the CONNECT is not answered yet, a DISCONNECT after, on MQTT 5 only; on 3.1.1 the connection is
 * closed (and an unacceptable protocol version answered with CONNACK 0x01).
 */
final class MqttGuard {
    /** What the guard reports to; implemented by {@link MqttListener}. */
    interface Sink {
        /** A refused packet: {@code device} is the session's device once bound, else null. */
        void refused(SocketAddress peer, DevicePrincipal device, String type, String reason);

        /** A connection closed because no CONNECT came within the timeout. */
        void silent(SocketAddress peer, boolean sentBytes, long timeoutMs);

        long connectTimeoutMs();

        int maxMessageBytes();
    }

    /** MQTT 5 reason codes used here. */
    static final int MALFORMED = 0x81;
    static final int PROTOCOL_ERROR = 0x82;
    static final int IMPLEMENTATION_SPECIFIC = 0x83;
    static final int CLIENT_ID_INVALID = 0x85;
    static final int TOPIC_NAME_INVALID = 0x90;
    static final int TOPIC_ALIAS_INVALID = 0x94;
    static final int PACKET_TOO_LARGE = 0x95;

    static final AttributeKey<MqttGuard> KEY = AttributeKey.valueOf("bulwark.mqtt.guard");

    private final Sink sink;
    /** The protocol level of the CONNECT (4: 3.1.1, 5: 5.0); 0 before it. */
    private int version;
    private boolean connectSeen;
    private boolean connackSent;
    /** Set on the connection's event loop; read there too (by {@link #refused(io.netty.channel.Channel)}). */
    private boolean refused;
    private boolean sentBytes;
    private int topicAliasMaximum;
    private final BitSet aliases = new BitSet();
    private ScheduledFuture<?> deadline;
    /** The bound session's device (set from the session's event loop, read on the same loop). */
    private volatile DevicePrincipal device;

    private MqttGuard(Sink sink) {
        this.sink = sink;
    }

    /** Installs the guard on a connection whose pipeline Vert.x MQTT has just set up. */
    static void install(ChannelPipeline pipeline, Sink sink) {
        MqttGuard g = new MqttGuard(sink);
        pipeline.channel().attr(KEY).set(g);
        pipeline.addBefore("mqttDecoder", "bulwarkFrames", g.new Frames());
        pipeline.addBefore("handler", "bulwarkPackets", g.new Decoded());
    }

    /** Tells the guard which device the connection's session belongs to, so that later refusals name it. */
    static void bound(io.netty.channel.Channel channel, DevicePrincipal device) {
        MqttGuard g = channel == null ? null : channel.attr(KEY).get();
        if (g != null) {
            g.device = device;
        }
    }

    /** True when the guard refused the connection (it is closing): a CONNECT authenticated meanwhile must not bind. */
    static boolean refused(io.netty.channel.Channel channel) {
        MqttGuard g = channel == null ? null : channel.attr(KEY).get();
        return g != null && g.refused;
    }

    /** Records the refusal, answers with {@code code} where the specification asks for one, and closes. */
    private void refuse(ChannelHandlerContext ctx, String type, String reason, int code) {
        if (refused) {
            return;
        }
        refused = true;
        cancelDeadline();
        sink.refused(dev.bulwark.server.monitor.PeerAddress.of(ctx.channel()), device, type, reason);
        ByteBuf answer = null;
        if (version == 5 && code > 0) {
            answer = connackSent
                    ? Unpooled.wrappedBuffer(new byte[] {(byte) 0xE0, 0x02, (byte) code, 0x00})        // DISCONNECT, reason code, no properties
                    : Unpooled.wrappedBuffer(new byte[] {0x20, 0x03, 0x00, (byte) code, 0x00});      // CONNACK, no session, reason code, no properties
        } else if (!connackSent && code == -1) {
            answer = Unpooled.wrappedBuffer(new byte[] {0x20, 0x02, 0x00, 0x01});                   // CONNACK 3.1.1: unacceptable protocol version
        } else if (!connackSent && version == 4 && code == CLIENT_ID_INVALID) {
            answer = Unpooled.wrappedBuffer(new byte[] {0x20, 0x02, 0x00, 0x02});                   // CONNACK 3.1.1: identifier rejected
        }
        if (answer != null) {
            connackSent = true;
            ctx.writeAndFlush(answer).addListener(ChannelFutureListener.CLOSE);
        } else {
            ctx.close();
        }
    }

    private void cancelDeadline() {
        if (deadline != null) {
            deadline.cancel(false);
            deadline = null;
        }
    }

    /** Raw bytes, one whole packet at a time, before Netty's decoder. */
    final class Frames extends ByteToMessageDecoder {
        /** A packet larger than the limit: handed to the decoder as it comes, which refuses it as too long. */
        private boolean passThrough;

        @Override
        public void handlerAdded(ChannelHandlerContext ctx) {
            long timeout = sink.connectTimeoutMs();
            deadline = ctx.executor().schedule(() -> {
                if (!connectSeen && !refused && ctx.channel().isActive()) {
                    refused = true;
                    sink.silent(dev.bulwark.server.monitor.PeerAddress.of(ctx.channel()), sentBytes, timeout);
                    ctx.close();
                }
            }, timeout, TimeUnit.MILLISECONDS);
        }

        @Override
        public void channelInactive(ChannelHandlerContext ctx) throws Exception {
            cancelDeadline();
            super.channelInactive(ctx);
        }

        @Override
        protected void decode(ChannelHandlerContext ctx, ByteBuf in, List<Object> out) {
            if (refused) {
                in.skipBytes(in.readableBytes());
                return;
            }
            sentBytes = true;
            if (passThrough) {
                out.add(in.readRetainedSlice(in.readableBytes()));
                return;
            }
            int start = in.readerIndex();
            int first = in.getUnsignedByte(start);
            int type = first >> 4;
            if (!connectSeen && first != 0x10) {
                refuse(ctx, "mqtt-protocol-violation", type == 1
                        ? String.format("reserved flags set in the CONNECT fixed header (0x%02x, must be 0x10)", first)
                        : String.format("%s before CONNECT (first byte 0x%02x)", typeName(type), first), 0);
                return;
            }
            if (connectSeen && type == 1) {
                refuse(ctx, "mqtt-protocol-violation", "a second CONNECT on the same connection", PROTOCOL_ERROR);
                return;
            }
            int length = 0;
            int i = 1;
            for (int multiplier = 1; ; i++, multiplier *= 128) {
                if (i > 4) {
                    refuse(ctx, "mqtt-protocol-violation", "bad remaining length: more than 4 bytes", MALFORMED);
                    return;
                }
                if (start + i >= in.writerIndex()) {
                    return; // wait for the rest of the length
                }
                int digit = in.getUnsignedByte(start + i);
                length += (digit & 127) * multiplier;
                if ((digit & 128) == 0) {
                    break;
                }
            }
            int header = i + 1;
            if (length > sink.maxMessageBytes()) {
                passThrough = true;
                out.add(in.readRetainedSlice(in.readableBytes()));
                return;
            }
            if (in.readableBytes() < header + length) {
                return; // wait for the whole packet
            }
            Problem p;
            try {
                p = check(type, first, in.slice(start + header, length));
            } catch (IndexOutOfBoundsException e) {
                p = new Problem("malformed " + typeName(type) + ": a field runs past the end of the packet", MALFORMED);
            }
            if (p != null) {
                refuse(ctx, "mqtt-protocol-violation", p.reason(), p.code());
                return;
            }
            if (type == 1) {
                connectSeen = true;
                cancelDeadline();
            }
            out.add(in.readRetainedSlice(header + length));
        }
    }

    /** Decoded packets, after Netty's decoder: what it could not decode, and the CONNACK going out. */
    final class Decoded extends ChannelDuplexHandler {
        @Override
        public void channelRead(ChannelHandlerContext ctx, Object msg) throws Exception {
            if (refused) {
                ReferenceCountUtil.release(msg);
                return;
            }
            if (msg instanceof MqttMessage m && m.decoderResult().isFailure()) {
                ReferenceCountUtil.release(msg);
                Throwable cause = m.decoderResult().cause();
                String what = m.fixedHeader() == null ? "packet" : m.fixedHeader().messageType().name();
                String detail = dev.bulwark.server.ingress.Printable.clip(String.valueOf(cause.getMessage()));
                if (cause instanceof MqttUnacceptableProtocolVersionException) {
                    refuse(ctx, "mqtt-protocol-violation", "wrong protocol name or level: " + detail, -1);
                } else if (cause instanceof MqttIdentifierRejectedException) {
                    refuse(ctx, "mqtt-protocol-violation", "invalid client identifier (NUL or invalid UTF-8)", CLIENT_ID_INVALID);
                } else if (cause instanceof TooLongFrameException) {
                    refuse(ctx, "mqtt-protocol-violation", what + " larger than " + sink.maxMessageBytes() + " bytes", PACKET_TOO_LARGE);
                } else if (detail.contains("wildcard") || detail.contains("invalid publish topic")) {
                    refuse(ctx, "mqtt-publish-refused", "wildcard in a publish topic", TOPIC_NAME_INVALID);
                } else {
                    refuse(ctx, "mqtt-protocol-violation", "malformed " + what + ": " + detail, MALFORMED);
                }
                return;
            }
            if (msg instanceof MqttMessage m && !connackSent && m.fixedHeader().messageType() != MqttMessageType.CONNECT
                    && m.fixedHeader().messageType() != MqttMessageType.DISCONNECT) {
                // allowed by the specification, but Vert.x would drop the connection unrecorded: refuse it and say why
                ReferenceCountUtil.release(msg);
                refuse(ctx, "mqtt-protocol-violation", "a " + m.fixedHeader().messageType() + " before the CONNACK (this server needs "
                        + "clients to wait for it)", IMPLEMENTATION_SPECIFIC);
                return;
            }
            super.channelRead(ctx, msg);
        }

        @Override
        public void write(ChannelHandlerContext ctx, Object msg, ChannelPromise promise) throws Exception {
            if (refused) {
                // the connection is refused and closing: nothing Vert.x answers meanwhile (a CONNACK of a CONNECT
                // whose authentication was under way, for one) may contradict the refusal
                ReferenceCountUtil.release(msg);
                promise.tryFailure(new java.nio.channels.ClosedChannelException());
                return;
            }
            if (msg instanceof MqttConnAckMessage ack) {
                connackSent = true;
                MqttProperties.MqttProperty<?> max = ack.variableHeader().properties().getProperty(
                        MqttProperties.MqttPropertyType.TOPIC_ALIAS_MAXIMUM.value());
                topicAliasMaximum = max == null ? 0 : (Integer) max.value();
            }
            super.write(ctx, msg, promise);
        }
    }

    record Problem(String reason, int code) {
    }

    /** Checks one whole packet (its body after the fixed header); null when nothing is wrong. */
    private Problem check(int type, int first, ByteBuf body) {
        switch (type) {
            case 1 -> {
                body.skipBytes(body.readUnsignedShort());       // protocol name (checked by the decoder)
                version = body.readUnsignedByte();
                if (version != 5) {
                    return null;                                // 3.1.1 has no properties; other levels: the decoder refuses them
                }
                int flags = body.readUnsignedByte();
                body.skipBytes(2);                              // keep alive
                Problem p = Mqtt5Properties.check(body, "CONNECT", Mqtt5Properties.CONNECT);
                if (p != null || (flags & 0x04) == 0) {
                    return p;
                }
                body.skipBytes(body.readUnsignedShort());       // client identifier
                return Mqtt5Properties.check(body, "the Will of CONNECT", Mqtt5Properties.WILL);
            }
            case 3 -> {
                int qos = (first >> 1) & 3;
                if (version != 5 || qos == 3) {
                    return null;                                // QoS 3: the decoder refuses it
                }
                int topicLength = body.readUnsignedShort();
                body.skipBytes(topicLength);
                if (qos > 0) {
                    body.skipBytes(2);                          // packet identifier
                }
                int[] alias = {-1};
                Problem p = Mqtt5Properties.check(body, "PUBLISH", Mqtt5Properties.PUBLISH, alias);
                if (p != null) {
                    return p;
                }
                if (alias[0] == 0 || alias[0] > topicAliasMaximum) {
                    return new Problem("topic alias " + alias[0] + " outside 1.." + topicAliasMaximum
                            + " (the Topic Alias Maximum advertised in CONNACK)", TOPIC_ALIAS_INVALID);
                }
                if (alias[0] > 0 && topicLength > 0) {
                    aliases.set(alias[0]);
                } else if (alias[0] > 0 && !aliases.get(alias[0])) {
                    return new Problem("topic alias " + alias[0] + " was never bound to a topic", PROTOCOL_ERROR);
                } else if (alias[0] < 0 && topicLength == 0) {
                    return new Problem("PUBLISH with an empty topic and no topic alias", PROTOCOL_ERROR);
                }
                return null;
            }
            case 8 -> {
                if (version != 5 || first != 0x82) {
                    return null;                                // wrong fixed-header flags: the decoder refuses them
                }
                body.skipBytes(2);                              // packet identifier
                return Mqtt5Properties.check(body, "SUBSCRIBE", Mqtt5Properties.SUBSCRIBE);
            }
            default -> {
                return null;
            }
        }
    }

    private static String typeName(int type) {
        return type == 0 ? "a packet of the reserved type 0" : "a " + MqttMessageType.valueOf(type).name();
    }
}
