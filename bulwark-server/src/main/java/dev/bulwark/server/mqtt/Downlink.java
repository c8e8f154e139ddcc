package dev.bulwark.server.mqtt;

import dev.bulwark.server.command.CommandService;
import dev.bulwark.server.device.DevicePrincipal;
import dev.bulwark.server.ingress.Printable;
import dev.bulwark.server.shadow.ConfigService;
import io.netty.handler.codec.mqtt.MqttQoS;
import io.vertx.core.Context;
import io.vertx.core.net.SocketAddress;
import io.vertx.mqtt.MqttEndpoint;
import io.vertx.mqtt.messages.MqttSubscribeMessage;
import io.vertx.mqtt.messages.MqttUnsubscribeMessage;
import io.vertx.mqtt.messages.codes.MqttSubAckReasonCode;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;

/**
 * Cloud → device for one session: SUBSCRIBE authorized by {@link TopicAuthorizer} (refusals recorded), what was
 * subscribed to pushed right after the SUBACK (the current desired configuration, queued commands), and messages
 * sent at QoS 1 with their acknowledgement callbacks. Runs on the session's event loop, except {@link #send}.
 */
final class Downlink {
    private final MqttEndpoint endpoint;
    private final DevicePrincipal device;
    private final SocketAddress peer;
    private final boolean v5;
    private final Context context;
    private final MqttEvents events;
    private final ConfigService config;
    private final CommandService commands;
    /** Topics the device subscribed to (event loop only, but read by {@link #send} from other threads). */
    private final Set<String> subscriptions = java.util.concurrent.ConcurrentHashMap.newKeySet();
    /** Acknowledgement callbacks of messages sent to the device, by message id (event loop only). */
    private final Map<Integer, Runnable> awaitingAck = new HashMap<>();

    Downlink(MqttEndpoint endpoint, DevicePrincipal device, SocketAddress peer, boolean v5, Context context, MqttEvents events,
             ConfigService config, CommandService commands) {
        this.endpoint = endpoint;
        this.device = device;
        this.peer = peer;
        this.v5 = v5;
        this.context = context;
        this.events = events;
        this.config = config;
        this.commands = commands;
    }

    /** Installs the handlers of subscriptions and of the device's acknowledgements. */
    void start() {
        endpoint.subscribeHandler(this::subscribe);
        endpoint.unsubscribeHandler(this::unsubscribe);
        endpoint.publishAcknowledgeHandler(id -> {
            Runnable r = awaitingAck.remove(id);
            if (r != null) {
                r.run();
            }
        });
    }

    /**
     * Sends a message to the device at QoS 1 if it subscribed to the topic; callable from any thread.
     * {@code onAck} runs on the event loop when the device acknowledges. {@code open} is re-checked on the loop.
     */
    boolean send(String topic, byte[] payload, Runnable onAck, java.util.function.BooleanSupplier open) {
        if (!open.getAsBoolean() || !subscriptions.contains(topic)) {
            return false;
        }
        context.runOnContext(v -> {
            if (!open.getAsBoolean() || !endpoint.isConnected()) {
                return;
            }
            endpoint.publish(topic, io.vertx.core.buffer.Buffer.buffer(payload), MqttQoS.AT_LEAST_ONCE, false, false)
                    .onSuccess(id -> awaitingAck.put(id, onAck));
        });
        return true;
    }

    private void unsubscribe(MqttUnsubscribeMessage u) {
        subscriptions.removeAll(u.topics());
        endpoint.unsubscribeAcknowledge(u.messageId());
    }

    private void subscribe(MqttSubscribeMessage m) {
        List<MqttSubAckReasonCode> codes = new ArrayList<>();
        List<MqttQoS> granted = new ArrayList<>();
        for (var sub : m.topicSubscriptions()) {
            TopicAuthorizer.Decision d = TopicAuthorizer.subscribe(device, sub.topicName());
            if (d instanceof TopicAuthorizer.Decision.Declined declined) {
                events.record(peer, device.tenant().value(), "mqtt-subscribe-refused", declined.reason(),
                        device.describe() + " filter:" + Printable.clip(sub.topicName()));
                codes.add(MqttSubAckReasonCode.NOT_AUTHORIZED);
                granted.add(MqttQoS.FAILURE);
            } else {
                MqttQoS q = sub.qualityOfService() == MqttQoS.AT_MOST_ONCE ? MqttQoS.AT_MOST_ONCE : MqttQoS.AT_LEAST_ONCE;
                codes.add(MqttSubAckReasonCode.qosGranted(q));
                granted.add(q);
                subscriptions.add(sub.topicName());
            }
        }
        if (v5) {
            endpoint.subscribeAcknowledge(m.messageId(), codes, io.netty.handler.codec.mqtt.MqttProperties.NO_PROPERTIES);
        } else {
            endpoint.subscribeAcknowledge(m.messageId(), granted);
        }
        // what the device subscribed to is pushed right after the SUBACK: current desired config, queued commands
        boolean wantsConfig = m.topicSubscriptions().stream().anyMatch(t -> t.topicName().endsWith("/config/desired") && subscriptions.contains(t.topicName()));
        boolean wantsCommands = m.topicSubscriptions().stream().anyMatch(t -> t.topicName().endsWith("/commands") && subscriptions.contains(t.topicName()));
        if (wantsConfig || wantsCommands) {
            context.owner().executeBlocking(() -> {
                if (wantsConfig) {
                    config.push(device.tenant(), device.device());
                }
                if (wantsCommands) {
                    commands.deliverQueued(device.tenant(), device.device());
                }
                return null;
            }, false);
        }
    }
}
