package dev.bulwark.server.mqtt;

import io.netty.channel.ChannelHandlerContext;
import io.netty.handler.codec.mqtt.MqttFixedHeader;
import io.netty.handler.codec.mqtt.MqttMessage;
import io.netty.handler.codec.mqtt.MqttMessageType;
import io.netty.handler.codec.mqtt.MqttProperties;
import io.netty.handler.codec.mqtt.MqttPubReplyMessageVariableHeader;
import io.netty.handler.codec.mqtt.MqttQoS;
import io.vertx.core.Context;
import io.vertx.mqtt.MqttEndpoint;
import java.lang.reflect.Field;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.Executor;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * The acknowledgements of one event loop, coalesced: the group-commit writer hands a loop all of its committed
 * messages in one task; their PUBACKs are written to their connections without a flush, and each connection is
 * flushed once at the end of the task, so a device with several messages in a batch gets them in one TLS record
 * and one system call instead of one each.
 *
 * <p>Vert.x MQTT flushes every packet it writes, so the PUBACKs are written on the connection's Netty pipeline
 * (the same pipeline, on the same event loop, in order with everything else the endpoint writes); where the
 * pipeline cannot be reached (another Vert.x version), {@link MqttEndpoint#publishAcknowledge} is used instead.
 */
final class LoopAcks implements Executor {
    private static final Logger LOG = LoggerFactory.getLogger(LoopAcks.class);
    private static final Field CONN = connField();

    private final Context context;
    /** Connections written to in the current task; touched on the loop's thread only. */
    private final List<ChannelHandlerContext> dirty = new ArrayList<>();

    LoopAcks(Context context) {
        this.context = context;
    }

    @Override
    public void execute(Runnable task) {
        context.runOnContext(v -> {
            try {
                task.run();
            } finally {
                for (ChannelHandlerContext c : dirty) {
                    c.flush();
                }
                dirty.clear();
            }
        });
    }

    /** The endpoint's pipeline, or null when it cannot be reached. */
    static ChannelHandlerContext pipeline(MqttEndpoint endpoint) {
        if (CONN == null) {
            return null;
        }
        try {
            return ((io.vertx.core.internal.net.NetSocketInternal) CONN.get(endpoint)).channelHandlerContext();
        } catch (ReflectiveOperationException | RuntimeException e) {
            return null;
        }
    }

    /** Writes a PUBACK for {@code packetId}, flushed at the end of the current task (on this loop's thread only). */
    void acknowledge(MqttEndpoint endpoint, ChannelHandlerContext pipeline, int packetId) {
        if (pipeline == null) {
            endpoint.publishAcknowledge(packetId);
            return;
        }
        pipeline.write(new MqttMessage(new MqttFixedHeader(MqttMessageType.PUBACK, false, MqttQoS.AT_MOST_ONCE, false, 0),
                new MqttPubReplyMessageVariableHeader(packetId, (byte) 0, MqttProperties.NO_PROPERTIES)), pipeline.voidPromise());
        if (dirty.isEmpty() || dirty.get(dirty.size() - 1) != pipeline) {
            dirty.add(pipeline);
        }
    }

    private static Field connField() {
        try {
            Field f = Class.forName("io.vertx.mqtt.impl.MqttEndpointImpl").getDeclaredField("conn");
            f.setAccessible(true);
            return f;
        } catch (ReflectiveOperationException | RuntimeException e) {
            LOG.info("MQTT acknowledgements are flushed one by one: {}", e.toString());
            return null;
        }
    }
}
