package dev.bulwark.server.mqtt;

import dev.bulwark.server.device.DevicePrincipal;
import dev.bulwark.server.ingress.Admission;
import dev.bulwark.server.ingress.IngressGate;
import dev.bulwark.server.ingress.Origin;
import dev.bulwark.server.ingress.Outcome;
import dev.bulwark.server.ingress.Printable;
import dev.bulwark.server.ingress.Route;
import io.netty.handler.codec.mqtt.MqttQoS;
import io.vertx.core.Context;
import io.vertx.core.Vertx;
import io.vertx.mqtt.MqttEndpoint;
import io.vertx.mqtt.messages.MqttPublishMessage;
import io.vertx.mqtt.messages.codes.MqttDisconnectReasonCode;

/**
 * One accepted MQTT connection of one device. Every PUBLISH, and the Will when the connection ends without a
 * DISCONNECT, goes through the {@link IngressGate}; a refusal disconnects (MQTT 5: with the reason code of
 * {@link MqttCodes}), an admission is acknowledged (QoS 1) after its commit, only while the session is connected.
 * Cloud → device traffic is the {@link Downlink}'s. All methods run on the connection's event loop, except the
 * group-commit callbacks, which hop back onto it before touching the endpoint.
 */
public final class DeviceSession implements dev.bulwark.server.device.LiveSessions.Session {
    private static final long DRAIN_TIMEOUT_MS = 5_000;

    private final MqttConnect host;
    private final IngressGate gate;
    private final Origin origin;
    /** The Will, checked at CONNECT, published through the gate if the connection ends without DISCONNECT; or null. */
    private final Will will;
    private final Downlink downlink;
    /** Runs tasks on this session's context; shared by the sessions of one event loop (acknowledgements are batched per loop). */
    private final LoopAcks onLoop;
    /** The connection's Netty pipeline, for coalesced acknowledgements (null: acknowledge through Vert.x). */
    private final io.netty.channel.ChannelHandlerContext pipeline;
    private final MqttEndpoint endpoint;
    private final boolean v5;
    private final Context context;
    private final Vertx vertx;
    private boolean gracefulDisconnect;
    private boolean closing;
    /** Messages handed to the gate whose outcome (and PUBACK) is still outstanding. */
    private int pendingCommits;
    /** The server is shutting down: new messages are left unacknowledged, outstanding ones are acknowledged, then DISCONNECT. */
    private boolean draining;
    private final io.vertx.core.Promise<Void> ended = io.vertx.core.Promise.promise();

    /** A Will that passed the gate's checks of the message alone at CONNECT. */
    record Will(String topic, int qos, byte[] payload) {
    }

    DeviceSession(MqttConnect host, IngressGate gate, Origin origin, Will will, Downlink downlink, MqttEndpoint endpoint, boolean v5) {
        this.host = host;
        this.gate = gate;
        this.origin = origin;
        this.will = will;
        this.downlink = downlink;
        this.endpoint = endpoint;
        this.v5 = v5;
        this.context = Vertx.currentContext();
        this.onLoop = host.executorFor(context);
        this.pipeline = LoopAcks.pipeline(endpoint);
        this.vertx = context.owner();
    }

    @Override
    public DevicePrincipal device() {
        return origin.device();
    }

    @Override
    public String source() {
        return origin.source();
    }

    @Override
    public String connectionId() {
        return origin.connection();
    }

    void start() {
        endpoint.publishHandler(this::publish);
        downlink.start();
        endpoint.disconnectHandler(v -> gracefulDisconnect = true);
        endpoint.closeHandler(v -> closed());
        endpoint.exceptionHandler(this::protocolError);
    }

    private void publish(MqttPublishMessage m) {
        if (closing || draining) {
            return; // not stored and not acknowledged: the device sends it again to the next server
        }
        int ackId = m.qosLevel() == MqttQoS.AT_LEAST_ONCE ? m.messageId() : -1;
        pendingCommits++;
        gate.pass(origin, m.topicName(), m.qosLevel().value(), m.isRetain(), m.payload().getBytes(), new Outcome() {
            @Override
            public void admitted(Route route) {
                if (ackId >= 0 && endpoint.isConnected() && !closing) {
                    if (route.control()) {
                        endpoint.publishAcknowledge(ackId); // after the worker's apply: outside a coalescing task
                    } else {
                        onLoop.acknowledge(endpoint, pipeline, ackId);
                    }
                }
                commitDone();
            }

            @Override
            public void refused(Admission.Refused refusal) {
                commitDone();
                disconnect(MqttCodes.disconnect(refusal.reason()));
            }

            @Override
            public java.util.concurrent.Executor executor() {
                return onLoop;
            }

            @Override
            public boolean waiting() {
                return !closing;
            }
        });
    }

    /** Sends a message to the device at QoS 1 if it subscribed to the topic; callable from any thread. */
    boolean send(String topic, byte[] payload, Runnable onAck) {
        return downlink.send(topic, payload, onAck, () -> !closing);
    }

    /**
     * A packet the MQTT decoder rejected before any handler saw it (a wildcard in a PUBLISH topic, a
     * malformed packet): recorded, and the connection is closed.
     */
    private void protocolError(Throwable e) {
        String message = String.valueOf(e.getMessage());
        if (message.contains("wildcard") || message.contains("invalid publish topic")) {
            refuse("mqtt-publish-refused", "wildcard in a publish topic", "decoder:" + Printable.clip(message),
                    MqttDisconnectReasonCode.TOPIC_NAME_INVALID);
        } else {
            refuse("mqtt-protocol-violation", Printable.clip(message), "", MqttDisconnectReasonCode.MALFORMED_PACKET);
        }
    }

    private void refuse(String type, String reason, String what, MqttDisconnectReasonCode code) {
        host.events().record(origin.address(), origin.port(), tenant(), type, reason, device().describe() + " " + what);
        disconnect(code);
    }

    private void disconnect(MqttDisconnectReasonCode code) {
        if (closing) {
            return;
        }
        closing = true;
        if (v5 && endpoint.isConnected()) {
            endpoint.disconnect(code, io.netty.handler.codec.mqtt.MqttProperties.NO_PROPERTIES); // sends DISCONNECT and closes
        } else {
            try {
                endpoint.close();
            } catch (IllegalArgumentException alreadyClosed) {
                // the peer closed first: nothing left to close
            }
        }
    }

    /** Another connection of the same device took over: close this one (MQTT 5: reason "session taken over"). */
    @Override
    public void takenOver() {
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
            host.events().record(origin.address(), origin.port(), tenant(), "session-terminated", reason, device().describe());
            gracefulDisconnect = true;
            disconnect(MqttDisconnectReasonCode.ADMINISTRATIVE_ACTION);
        });
    }

    /** True once the session is closing or closed (event loop only). */
    boolean closing() {
        return closing;
    }

    String tenant() {
        return origin.device().tenant().value();
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
        host.ended(this);
        if (!gracefulDisconnect && will != null) {
            // the Will passes the whole gate now, as a PUBLISH would: device rate, tenant quota, route, writer
            gate.pass(origin.on(Origin.Path.MQTT_WILL), will.topic(), will.qos(), false, will.payload(), new Outcome() {
                @Override
                public void admitted(Route route) {
                    // nobody to acknowledge to: the connection is gone
                }

                @Override
                public void refused(Admission.Refused refusal) {
                    // recorded by the gate where a refusal is recorded; nobody to tell
                }

                @Override
                public java.util.concurrent.Executor executor() {
                    return onLoop;
                }
            });
        }
    }
}
