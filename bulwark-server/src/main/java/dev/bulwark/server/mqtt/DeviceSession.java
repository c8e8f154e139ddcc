package dev.bulwark.server.mqtt;

import dev.bulwark.server.Services;
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
import java.util.List;

/**
 * One accepted MQTT connection of one device. All methods run on the connection's event loop, except the
 * group-commit callbacks, which hop back onto it before touching the endpoint.
 */
public final class DeviceSession {
    private static final int SUBMIT_RETRIES = 200;

    private final MqttListener listener;
    private final Services s;
    private final GroupCommitWriter writer;
    private final MqttEndpoint endpoint;
    private final DevicePrincipal device;
    private final SocketAddress peer;
    private final boolean v5;
    private final String willKind;
    private final String connectionId = Secrets.randomHex(8);
    private final RateLimiter rate;
    private final Context context;
    private final Vertx vertx;
    private boolean gracefulDisconnect;
    private boolean closing;

    DeviceSession(MqttListener listener, Services s, GroupCommitWriter writer, MqttEndpoint endpoint, DevicePrincipal device,
                  SocketAddress peer, boolean v5, String willKind) {
        this.listener = listener;
        this.s = s;
        this.writer = writer;
        this.endpoint = endpoint;
        this.device = device;
        this.peer = peer;
        this.v5 = v5;
        this.willKind = willKind;
        this.rate = new RateLimiter(s.config().deviceMessagesPerSecond(), 2.0 * s.config().deviceMessagesPerSecond());
        this.context = Vertx.currentContext();
        this.vertx = context.owner();
    }

    String key() {
        return device.tenant().value() + "/" + device.device().value();
    }

    public DevicePrincipal device() {
        return device;
    }

    public String source() {
        return MqttListener.addr(peer);
    }

    public String connectionId() {
        return connectionId;
    }

    void start() {
        endpoint.publishHandler(this::publish);
        endpoint.subscribeHandler(this::subscribe);
        endpoint.unsubscribeHandler(u -> endpoint.unsubscribeAcknowledge(u.messageId()));
        endpoint.disconnectHandler(v -> gracefulDisconnect = true);
        endpoint.closeHandler(v -> closed());
        endpoint.exceptionHandler(e -> { });
    }

    private void publish(MqttPublishMessage m) {
        if (closing) {
            return;
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
        if (!rate.tryAcquire()) {
            refuse("rate-exceeded", "more than " + s.config().deviceMessagesPerSecond() + " messages per second",
                    "topic:" + MqttListener.clip(m.topicName()), MqttDisconnectReasonCode.MESSAGE_RATE_TOO_HIGH);
            return;
        }
        DeviceMessage message = new DeviceMessage(device.tenant().value(), device.device().value(),
                ((TopicAuthorizer.Decision.Allowed) d).kind(), s.clock().nowMs(), m.qosLevel().value(), "mqtt", source(),
                connectionId, m.payload().getBytes());
        submit(message, m.qosLevel() == MqttQoS.AT_LEAST_ONCE ? m.messageId() : -1, 0);
    }

    /**
     * Hands the message to the group-commit writer. When the writer is saturated, retries after a short
     * pause: the device sees slower acknowledgements (back-pressure), never an acknowledgement for
     * something that was not stored.
     */
    private void submit(DeviceMessage message, int ackId, int attempt) {
        boolean queued = writer.submit(message, new GroupCommitWriter.Completion() {
            @Override
            public void committed() {
                if (ackId >= 0) {
                    context.runOnContext(v -> {
                        if (endpoint.isConnected() && !closing) {
                            endpoint.publishAcknowledge(ackId);
                        }
                    });
                }
            }

            @Override
            public void failed(Throwable cause) {
                // not stored: no PUBACK; the device keeps the message and sends it again
                context.runOnContext(v -> disconnect(MqttDisconnectReasonCode.UNSPECIFIED_ERROR));
            }
        });
        if (!queued) {
            if (attempt >= SUBMIT_RETRIES) {
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

    private void subscribe(MqttSubscribeMessage m) {
        List<MqttSubAckReasonCode> codes = new ArrayList<>();
        List<MqttQoS> granted = new ArrayList<>();
        for (var sub : m.topicSubscriptions()) {
            TopicAuthorizer.Decision d = TopicAuthorizer.subscribe(device, sub.topicName());
            if (d instanceof TopicAuthorizer.Decision.Declined declined) {
                listener.record(peer, device.tenant().value(), 0, "mqtt-subscribe-refused", declined.reason(),
                        device.describe() + " filter:" + MqttListener.clip(sub.topicName()));
                codes.add(MqttSubAckReasonCode.NOT_AUTHORIZED);
                granted.add(MqttQoS.FAILURE);
            } else {
                MqttQoS q = sub.qualityOfService() == MqttQoS.AT_MOST_ONCE ? MqttQoS.AT_MOST_ONCE : MqttQoS.AT_LEAST_ONCE;
                codes.add(MqttSubAckReasonCode.qosGranted(q));
                granted.add(q);
            }
        }
        if (v5) {
            endpoint.subscribeAcknowledge(m.messageId(), codes, MqttListener.none());
        } else {
            endpoint.subscribeAcknowledge(m.messageId(), granted);
        }
    }

    private void refuse(String type, String reason, String what, MqttDisconnectReasonCode code) {
        listener.record(peer, device.tenant().value(), 0, type, reason, device.describe() + " " + what);
        disconnect(code);
    }

    private void disconnect(MqttDisconnectReasonCode code) {
        if (closing) {
            return;
        }
        closing = true;
        if (v5 && endpoint.isConnected()) {
            endpoint.disconnect(code, MqttListener.none());
        }
        endpoint.close();
    }

    /** Another connection of the same device took over: close this one (MQTT 5: reason "session taken over"). */
    void takenOver() {
        context.runOnContext(v -> {
            gracefulDisconnect = true;
            disconnect(MqttDisconnectReasonCode.SESSION_TAKEN_OVER);
        });
    }

    void serverShutdown() {
        context.runOnContext(v -> {
            gracefulDisconnect = true;
            disconnect(MqttDisconnectReasonCode.SERVER_SHUTTING_DOWN);
        });
    }

    private void closed() {
        closing = true;
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
