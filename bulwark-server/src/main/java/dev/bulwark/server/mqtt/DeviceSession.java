package dev.bulwark.server.mqtt;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import dev.bulwark.server.Services;
import dev.bulwark.server.command.CommandService;
import dev.bulwark.server.shadow.ConfigService;
import dev.bulwark.server.crypto.Secrets;
import dev.bulwark.server.device.DevicePrincipal;
import dev.bulwark.server.telemetry.DeviceMessage;
import dev.bulwark.server.telemetry.GroupCommitWriter;
import io.netty.handler.codec.mqtt.MqttQoS;
import io.vertx.core.Context;
import io.vertx.core.Vertx;
import io.vertx.core.net.SocketAddress;
import io.vertx.mqtt.MqttEndpoint;
import io.vertx.mqtt.messages.MqttPublishMessage;
import io.vertx.mqtt.messages.MqttSubscribeMessage;
import io.vertx.mqtt.messages.codes.MqttDisconnectReasonCode;
import io.vertx.mqtt.messages.codes.MqttSubAckReasonCode;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.HashSet;
import java.util.List;
import java.util.Map;
import java.util.Set;

/**
 * One accepted MQTT connection of one device. All methods run on the connection's event loop, except the
 * group-commit callbacks, which hop back onto it before touching the endpoint.
 */
public final class DeviceSession implements dev.bulwark.server.device.LiveSessions.Session {
    private static final int SUBMIT_RETRIES = 200;
    private static final ObjectMapper JSON = new ObjectMapper();

    private final MqttListener listener;
    /** The peer's address and port as text, made once (it is stored with every message). */
    private String sourceText;
    /** Runs tasks on this session's context; shared by the sessions of one event loop (acknowledgements are batched per loop). */
    private final LoopAcks onLoop;
    /** The connection's Netty pipeline, for coalesced acknowledgements (null: acknowledge through Vert.x). */
    private final io.netty.channel.ChannelHandlerContext pipeline;
    private final Services s;
    private final GroupCommitWriter writer;
    private final ConfigService config;
    private final CommandService commands;
    private final MqttEndpoint endpoint;
    private final DevicePrincipal device;
    private final SocketAddress peer;
    private final boolean v5;
    private final String willKind;
    private final String connectionId = Secrets.randomHex(8);
    private final Context context;
    private final Vertx vertx;
    private static final long DRAIN_TIMEOUT_MS = 5_000;
    private boolean gracefulDisconnect;
    private boolean closing;
    /** Messages handed to the writer whose commit (and PUBACK) is still outstanding. */
    private int pendingCommits;
    /** The server is shutting down: new messages are left unacknowledged, outstanding ones are acknowledged, then DISCONNECT. */
    private boolean draining;
    private final io.vertx.core.Promise<Void> ended = io.vertx.core.Promise.promise();
    /** Topics the device subscribed to (event loop only, but read by {@link #send} from other threads). */
    private final Set<String> subscriptions = java.util.concurrent.ConcurrentHashMap.newKeySet();
    /** Acknowledgement callbacks of messages sent to the device, by message id (event loop only). */
    private final Map<Integer, Runnable> awaitingAck = new HashMap<>();

    DeviceSession(MqttListener listener, Services s, GroupCommitWriter writer, ConfigService config, CommandService commands,
                  MqttEndpoint endpoint, DevicePrincipal device, SocketAddress peer, boolean v5, String willKind) {
        this.listener = listener;
        this.s = s;
        this.writer = writer;
        this.config = config;
        this.commands = commands;
        this.endpoint = endpoint;
        this.device = device;
        this.peer = peer;
        this.v5 = v5;
        this.willKind = willKind;
        this.context = Vertx.currentContext();
        this.onLoop = listener.executorFor(context);
        this.pipeline = LoopAcks.pipeline(endpoint);
        this.vertx = context.owner();
    }

    @Override
    public DevicePrincipal device() {
        return device;
    }

    public String source() {
        String s = sourceText;
        if (s == null) {
            sourceText = s = MqttListener.addr(peer);
        }
        return s;
    }

    public String connectionId() {
        return connectionId;
    }

    void start() {
        endpoint.publishHandler(this::publish);
        endpoint.subscribeHandler(this::subscribe);
        endpoint.unsubscribeHandler(u -> {
            subscriptions.removeAll(u.topics());
            endpoint.unsubscribeAcknowledge(u.messageId());
        });
        endpoint.publishAcknowledgeHandler(id -> {
            Runnable r = awaitingAck.remove(id);
            if (r != null) {
                r.run();
            }
        });
        endpoint.disconnectHandler(v -> gracefulDisconnect = true);
        endpoint.closeHandler(v -> closed());
        endpoint.exceptionHandler(this::protocolError);
    }

    private void publish(MqttPublishMessage m) {
        if (closing || draining) {
            return; // not stored and not acknowledged: the device sends it again to the next server
        }
        TopicAuthorizer.Decision d = TopicAuthorizer.publish(device, m.topicName(), m.isRetain());
        if (d instanceof TopicAuthorizer.Decision.Declined declined) {
            refuse("mqtt-publish-refused", declined.reason(), "topic:" + MqttListener.clip(m.topicName()),
                    m.isRetain() ? MqttDisconnectReasonCode.RETAIN_NOT_SUPPORTED
                            : m.topicName().contains("+") || m.topicName().contains("#") ? MqttDisconnectReasonCode.TOPIC_NAME_INVALID
                            : MqttDisconnectReasonCode.NOT_AUTHORIZED);
            return;
        }
        if (m.qosLevel() == MqttQoS.EXACTLY_ONCE) {
            refuse("mqtt-publish-refused", "QoS 2 is not supported; use QoS 0 or 1", "topic:" + MqttListener.clip(m.topicName()),
                    MqttDisconnectReasonCode.QOS_NOT_SUPPORTED);
            return;
        }
        int size = m.payload().length();
        if (size > s.config().maxPayloadBytes()) {
            refuse("payload-too-large", size + " bytes exceed the limit of " + s.config().maxPayloadBytes(),
                    "topic:" + MqttListener.clip(m.topicName()), MqttDisconnectReasonCode.PACKET_TOO_LARGE);
            return;
        }
        if (!s.rateLimits().tryAcquire(device)) {
            refuse("rate-exceeded", "more than " + s.config().deviceMessagesPerSecond() + " messages per second",
                    "topic:" + MqttListener.clip(m.topicName()), MqttDisconnectReasonCode.MESSAGE_RATE_TOO_HIGH);
            return;
        }
        if (!s.quotas().message(device.tenant().value())) {
            refuse("tenant-rate-exceeded", "the tenant sends more than " + s.quotas().messagesPerSecond() + " messages per second",
                    "topic:" + MqttListener.clip(m.topicName()), MqttDisconnectReasonCode.QUOTA_EXCEEDED);
            return;
        }
        String kind = ((TopicAuthorizer.Decision.Allowed) d).kind();
        int ackId = m.qosLevel() == MqttQoS.AT_LEAST_ONCE ? m.messageId() : -1;
        if (kind.equals("config-reported") || kind.equals("command-result")) {
            control(kind, m.topicName(), m.payload().getBytes(), ackId);
            return;
        }
        DeviceMessage message = new DeviceMessage(device.tenant().value(), device.device().value(), kind, s.clock().nowMs(),
                m.qosLevel().value(), "mqtt", source(), connectionId, m.payload().getBytes());
        submit(message, ackId, 0);
    }

    /**
     * Hands the message to the group-commit writer. When the writer is saturated, retries after a short
     * pause: the device sees slower acknowledgements (back-pressure), never an acknowledgement for
     * something that was not stored.
     */
    private void submit(DeviceMessage message, int ackId, int attempt) {
        if (attempt == 0) {
            pendingCommits++;
        }
        boolean queued = writer.submit(message, new GroupCommitWriter.Completion() {
            @Override
            public void committed() {
                // runs on this session's event loop (see executor())
                if (ackId >= 0 && endpoint.isConnected() && !closing) {
                    onLoop.acknowledge(endpoint, pipeline, ackId);
                }
                commitDone();
            }

            @Override
            public java.util.concurrent.Executor executor() {
                return onLoop;
            }

            @Override
            public void failed(Throwable cause) {
                notStored();
            }
        });
        if (!queued) {
            if (attempt >= SUBMIT_RETRIES) {
                commitDone();
                disconnect(MqttDisconnectReasonCode.SERVER_BUSY);
                return;
            }
            vertx.setTimer(5, t -> {
                if (!closing) {
                    submit(message, ackId, attempt + 1);
                }
            });
        }
    }

    /**
     * Reported configuration ({@code {...}}) and command results ({@code {"status":"succeeded"|"failed","result":...}}):
     * stored on a worker thread, acknowledged after the commit. A payload that is not of that shape is
     * refused (MQTT 5: "payload format invalid") and recorded.
     */
    private void control(String kind, String topic, byte[] payload, int ackId) {
        JsonNode json;
        try {
            json = JSON.readTree(payload);
        } catch (java.io.IOException e) {
            json = null;
        }
        if (json == null || !json.isObject()) {
            refuse("mqtt-payload-invalid", kind + " must be a JSON object", "topic:" + MqttListener.clip(topic),
                    MqttDisconnectReasonCode.PAYLOAD_FORMAT_INVALID);
            return;
        }
        JsonNode doc = json;
        if (kind.equals("command-result")) {
            String status = doc.path("status").asText("");
            if (!status.equals("succeeded") && !status.equals("failed")) {
                refuse("mqtt-payload-invalid", "a command result needs \"status\": \"succeeded\" or \"failed\"",
                        "topic:" + MqttListener.clip(topic), MqttDisconnectReasonCode.PAYLOAD_FORMAT_INVALID);
                return;
            }
        }
        if (payload.length > ConfigService.MAX_REPORTED) {
            refuse("payload-too-large", "a reported configuration or command result is at most " + ConfigService.MAX_REPORTED + " bytes",
                    "topic:" + MqttListener.clip(topic), MqttDisconnectReasonCode.PACKET_TOO_LARGE);
            return;
        }
        String commandId = kind.equals("command-result") ? topic.split("/")[3] : null;
        // First into the telemetry log, like any device message (durable, readable as kind=config-reported or
        // command-result); then applied to the shadow or the command, synced, and only then acknowledged.
        DeviceMessage message = new DeviceMessage(device.tenant().value(), device.device().value(), kind, s.clock().nowMs(),
                ackId >= 0 ? 1 : 0, "mqtt", source(), connectionId, payload);
        pendingCommits++;
        boolean queued = writer.submit(message, new GroupCommitWriter.Completion() {
            @Override
            public void committed() {
                context.runOnContext(v -> apply(doc, commandId, ackId));
            }

            @Override
            public void failed(Throwable cause) {
                notStored();
            }
        });
        if (!queued) {
            commitDone();
            disconnect(MqttDisconnectReasonCode.SERVER_BUSY); // not stored, not acknowledged: the device sends it again
        }
    }

    /** Applies a committed reported configuration or command result on a worker, syncs it, then acknowledges. */
    private void apply(JsonNode doc, String commandId, int ackId) {
        vertx.executeBlocking(() -> {
            boolean applied;
            if (commandId == null) {
                config.report(device.tenant(), device.device(), doc);
                applied = true;
            } else {
                applied = commands.complete(device.tenant(), device.device(), commandId, doc.get("status").asText().equals("succeeded"),
                        doc.get("result"));
            }
            s.db().syncCommitted(); // the embedded database: on disk before the acknowledgement, like telemetry
            return applied;
        }, false).onComplete(ar -> {
            commitDone();
            if (ar.failed()) {
                disconnect(MqttDisconnectReasonCode.UNSPECIFIED_ERROR);
                return;
            }
            if (!ar.result()) {
                listener.record(peer, device.tenant().value(), "mqtt-command-result-refused",
                        "no open command with this id for this device (unknown, finished or expired)",
                        device.describe() + " command:" + MqttListener.clip(commandId));
            }
            if (ackId >= 0 && endpoint.isConnected() && !closing) {
                endpoint.publishAcknowledge(ackId);
            }
        });
    }

    /**
     * Sends a message to the device at QoS 1 if it subscribed to the topic; callable from any thread.
     * {@code onAck} runs on the event loop when the device acknowledges.
     */
    boolean send(String topic, byte[] payload, Runnable onAck) {
        if (closing || !subscriptions.contains(topic)) {
            return false;
        }
        context.runOnContext(v -> {
            if (closing || !endpoint.isConnected()) {
                return;
            }
            endpoint.publish(topic, io.vertx.core.buffer.Buffer.buffer(payload), MqttQoS.AT_LEAST_ONCE, false, false)
                    .onSuccess(id -> awaitingAck.put(id, onAck));
        });
        return true;
    }

    private void subscribe(MqttSubscribeMessage m) {
        List<MqttSubAckReasonCode> codes = new ArrayList<>();
        List<MqttQoS> granted = new ArrayList<>();
        for (var sub : m.topicSubscriptions()) {
            TopicAuthorizer.Decision d = TopicAuthorizer.subscribe(device, sub.topicName());
            if (d instanceof TopicAuthorizer.Decision.Declined declined) {
                listener.record(peer, device.tenant().value(), "mqtt-subscribe-refused", declined.reason(),
                        device.describe() + " filter:" + MqttListener.clip(sub.topicName()));
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
            endpoint.subscribeAcknowledge(m.messageId(), codes, MqttListener.none());
        } else {
            endpoint.subscribeAcknowledge(m.messageId(), granted);
        }
        // what the device subscribed to is pushed right after the SUBACK: current desired config, queued commands
        boolean wantsConfig = m.topicSubscriptions().stream().anyMatch(t -> t.topicName().endsWith("/config/desired") && subscriptions.contains(t.topicName()));
        boolean wantsCommands = m.topicSubscriptions().stream().anyMatch(t -> t.topicName().endsWith("/commands") && subscriptions.contains(t.topicName()));
        if (wantsConfig || wantsCommands) {
            vertx.executeBlocking(() -> {
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

    /**
     * A packet the MQTT decoder rejected before any handler saw it (a wildcard in a PUBLISH topic, a
     * malformed packet): recorded, and the connection is closed.
     */
    private void protocolError(Throwable e) {
        String message = String.valueOf(e.getMessage());
        if (message.contains("wildcard") || message.contains("invalid publish topic")) {
            refuse("mqtt-publish-refused", "wildcard in a publish topic", "decoder:" + MqttListener.clip(message),
                    MqttDisconnectReasonCode.TOPIC_NAME_INVALID);
        } else {
            refuse("mqtt-protocol-violation", MqttListener.clip(message), "", MqttDisconnectReasonCode.MALFORMED_PACKET);
        }
    }

    private void refuse(String type, String reason, String what, MqttDisconnectReasonCode code) {
        listener.record(peer, device.tenant().value(), type, reason, device.describe() + " " + what);
        disconnect(code);
    }

    private void disconnect(MqttDisconnectReasonCode code) {
        if (closing) {
            return;
        }
        closing = true;
        if (v5 && endpoint.isConnected()) {
            endpoint.disconnect(code, MqttListener.none()); // sends DISCONNECT and closes the endpoint
        } else {
            try {
                endpoint.close();
            } catch (IllegalArgumentException alreadyClosed) {
                // the peer closed first: nothing left to close
            }
        }
    }

    /** Another connection of the same device took over: close this one (MQTT 5: reason "session taken over"). */
    void takenOver() {
        context.runOnContext(v -> {
            gracefulDisconnect = true;
            disconnect(MqttDisconnectReasonCode.SESSION_TAKEN_OVER);
        });
    }

    @Override
    public void terminate(String reason) {
        context.runOnContext(v -> {
            if (closing) {
                return;
            }
            listener.record(peer, device.tenant().value(), "session-terminated", reason, device.describe());
            gracefulDisconnect = true;
            disconnect(MqttDisconnectReasonCode.ADMINISTRATIVE_ACTION);
        });
    }

    /** True once the session is closing or closed (event loop only). */
    boolean closing() {
        return closing;
    }

    String tenant() {
        return device.tenant().value();
    }

    /** A batch failed: nothing acknowledged; the device keeps the message and sends it again after reconnecting. */
    private void notStored() {
        context.runOnContext(v -> {
            commitDone();
            disconnect(MqttDisconnectReasonCode.UNSPECIFIED_ERROR);
        });
    }

    private void commitDone() {
        pendingCommits--;
        if (draining && pendingCommits <= 0) {
            gracefulDisconnect = true;
            disconnect(MqttDisconnectReasonCode.SERVER_SHUTTING_DOWN);
        }
    }

    /**
     * Graceful shutdown: stop taking new messages (they stay unacknowledged, so the device keeps them),
     * acknowledge every message whose commit is under way, then disconnect. Nothing acknowledged is
     * lost and nothing stored goes unacknowledged, so a reconnecting device sends no duplicate.
     * Completes when the connection is closed.
     */
    io.vertx.core.Future<Void> serverShutdown() {
        context.runOnContext(v -> {
            draining = true;
            if (pendingCommits <= 0) {
                gracefulDisconnect = true;
                disconnect(MqttDisconnectReasonCode.SERVER_SHUTTING_DOWN);
            } else {
                vertx.setTimer(DRAIN_TIMEOUT_MS, t -> {
                    gracefulDisconnect = true;
                    disconnect(MqttDisconnectReasonCode.SERVER_SHUTTING_DOWN);
                });
            }
        });
        return ended.future();
    }

    private void closed() {
        closing = true;
        ended.tryComplete();
        listener.ended(this);
        if (!gracefulDisconnect && willKind != null && endpoint.will() != null) {
            byte[] payload = endpoint.will().getWillMessageBytes();
            if (payload != null && payload.length <= s.config().maxPayloadBytes()) {
                writer.submit(new DeviceMessage(device.tenant().value(), device.device().value(), willKind, s.clock().nowMs(),
                        endpoint.will().getWillQos(), "mqtt-will", source(), connectionId, payload), new GroupCommitWriter.Completion() {
                            @Override
                            public void committed() {
                            }

                            @Override
                            public void failed(Throwable cause) {
                            }
                        });
            }
        }
    }
}
