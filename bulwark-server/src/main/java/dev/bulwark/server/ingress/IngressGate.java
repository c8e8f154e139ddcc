package dev.bulwark.server.ingress;

import com.fasterxml.jackson.databind.JsonNode;
import dev.bulwark.protocol.DeviceTopic;
import dev.bulwark.protocol.TopicParse;
import dev.bulwark.server.core.Clock;
import dev.bulwark.server.device.DeviceRateLimits;
import dev.bulwark.server.device.TenantQuotas;
import dev.bulwark.server.monitor.SecurityEvent;
import dev.bulwark.server.monitor.SecurityEvents;
import dev.bulwark.server.telemetry.DeviceMessage;
import dev.bulwark.server.telemetry.GroupCommitWriter;
import io.vertx.core.Vertx;

/**
 * The one admission sequence of every device message, whichever way it came in (MQTT PUBLISH, MQTT Will, device
 * HTTPS), in this order:
 *
 * <ol>
 *   <li>the topic parsed into a {@link DeviceTopic} ({@code bulwark-protocol});</li>
 *   <li>authorized for this device ({@link TopicAuthorization}: own namespace, upstream, not retained), QoS 0 or 1;</li>
 *   <li>payload size;</li>
 *   <li>the device's message rate ({@link DeviceRateLimits}, shared by every transport);</li>
 *   <li>the tenant's message quota ({@link TenantQuotas});</li>
 *   <li>the route ({@link Route}): telemetry and events as they are, reported configuration and command results
 *       only as a JSON object of the right shape;</li>
 *   <li>the group-commit writer, with back-pressure: a full writer is retried every {@value #BUSY_PAUSE_MS} ms for
 *       as long as the path waits (MQTT), or refused at once (HTTPS, which answers 503 with Retry-After);</li>
 *   <li>after the commit: the control-plane routes are applied on a worker (and the embedded database synced),
 *       then {@link Outcome#admitted} runs on the transport's event loop, which acknowledges.</li>
 * </ol>
 *
 * <p>Every refusal is recorded here, once, with the types the transports recorded before the gate existed
 * ({@code mqtt-publish-refused}, {@code mqtt-will-refused}, {@code payload-too-large}, {@code mqtt-payload-invalid},
 * {@code rate-exceeded}, {@code tenant-rate-exceeded}); a full writer and a failed batch are not security events.
 *
 * <p>Trust boundary: the caller authenticated the device ({@link Origin#device()}); the gate assumes nothing about
 * the topic, the flags or the payload. Threads: {@link #pass} runs on an event loop and never blocks (no database
 * round trip: limits and quotas are in memory, the writer queues); workers only run the control plane's apply.
 */
public final class IngressGate {
    static final long BUSY_PAUSE_MS = 5;
    /** How long (in pauses) an MQTT message waits for room in the writer before the session is told the server is busy. */
    static final int MQTT_BUSY_RETRIES = 200;
    static final String QOS_2 = "QoS 2 is not supported; use QoS 0 or 1";
    static final String NOT_OPEN = "no open command with this id for this device (unknown, finished or expired)";

    private final Vertx vertx;
    private final Clock clock;
    private final SecurityEvents events;
    private final int maxPayloadBytes;
    private final DeviceRateLimits rates;
    private final TenantQuotas quotas;
    private final GroupCommitWriter writer;
    private final ControlPlane control;
    private final Admission.Refused rateRefusal;
    private final Admission.Refused saturated = new Admission.Refused(Admission.Reason.WRITER_SATURATED,
            "the server is saturated; nothing was stored, send it again");
    private final Admission.Refused notStored = new Admission.Refused(Admission.Reason.NOT_STORED, "not stored; send it again");

    public IngressGate(Vertx vertx, Clock clock, SecurityEvents events, int maxPayloadBytes, int deviceMessagesPerSecond,
                       DeviceRateLimits rates, TenantQuotas quotas, GroupCommitWriter writer,
                       dev.bulwark.server.shadow.ConfigService config, dev.bulwark.server.command.CommandService commands,
                       dev.bulwark.server.store.Database db) {
        this.vertx = vertx;
        this.clock = clock;
        this.events = events;
        this.maxPayloadBytes = maxPayloadBytes;
        this.rates = rates;
        this.quotas = quotas;
        this.writer = writer;
        this.control = new ControlPlane(config, commands, db);
        this.rateRefusal = new Admission.Refused(Admission.Reason.DEVICE_RATE, "more than " + deviceMessagesPerSecond
                + " messages per second");
    }

    public int maxPayloadBytes() {
        return maxPayloadBytes;
    }

    /**
     * Runs one message through the whole sequence; {@code outcome} hears exactly once. A refusal before the writer
     * is recorded and reported before this method returns.
     */
    public void pass(Origin origin, String topic, int qos, boolean retain, byte[] payload, Outcome outcome) {
        TopicParse parsed = origin.namespace().parse(topic);
        Admission.Refused refused = screen(origin, parsed, qos, retain, payload.length);
        if (refused == null && !rates.tryAcquire(origin.device())) {
            refused = rateRefusal;
        }
        if (refused == null && !quotas.message(origin.device().tenant().value())) {
            refused = new Admission.Refused(Admission.Reason.TENANT_QUOTA, "the tenant sends more than " + quotas.messagesPerSecond()
                    + " messages per second");
        }
        DeviceTopic.Upstream target = refused == null ? (DeviceTopic.Upstream) parsed : null;
        Route route = target == null ? null : Route.of(target);
        JsonNode doc = null;
        if (route != null && route.control()) {
            doc = ControlPlane.object(payload);
            refused = ControlPlane.check(route, doc, payload.length);
        }
        if (refused != null) {
            record(origin, topic, refused);
            outcome.refused(refused);
            return;
        }
        DeviceMessage message = new DeviceMessage(origin.device().tenant().value(), origin.device().device().value(), route.kind(),
                clock.nowMs(), qos, origin.path().storedChannel(), origin.source(), origin.connection(), payload);
        submit(origin, target, route, doc, message, outcome, 0);
    }

    /**
     * The checks that follow from a message alone (topic, flags, size, route shape), for a Will at CONNECT: null when
     * the Will could be admitted once published, else the refusal, recorded as {@code mqtt-will-refused}.
     */
    public Admission.Refused screenWill(Origin origin, String topic, int qos, boolean retain, byte[] payload) {
        TopicParse parsed = origin.namespace().parse(topic);
        Admission.Refused refused = screen(origin, parsed, qos, retain, payload.length);
        if (refused == null) {
            Route route = Route.of((DeviceTopic.Upstream) parsed);
            if (route.control()) {
                refused = ControlPlane.check(route, ControlPlane.object(payload), payload.length);
            }
        }
        if (refused != null) {
            record(origin, topic, refused);
        }
        return refused;
    }

    /** Steps 2 and 3: authorization, QoS, size. */
    private Admission.Refused screen(Origin origin, TopicParse parsed, int qos, boolean retain, int size) {
        Admission.Refused refused = TopicAuthorization.publish(origin.namespace(), parsed, retain);
        if (refused != null) {
            return refused;
        }
        if (qos > 1) {
            return new Admission.Refused(Admission.Reason.UNSUPPORTED_QOS, QOS_2);
        }
        if (size > maxPayloadBytes) {
            return new Admission.Refused(Admission.Reason.PAYLOAD_TOO_LARGE, size + " bytes exceed the limit of " + maxPayloadBytes);
        }
        return null;
    }

    /** Step 7 and 8: the writer, with back-pressure; the control plane after the commit; then the outcome. */
    private void submit(Origin origin, DeviceTopic.Upstream topic, Route route, JsonNode doc, DeviceMessage message,
                        Outcome outcome, int attempt) {
        boolean queued = writer.submit(message, new GroupCommitWriter.Completion() {
            @Override
            public void committed() {
                // on the transport's event loop (see executor())
                if (doc == null) {
                    outcome.admitted(route);
                } else {
                    applyCommitted(origin, topic, route, doc, outcome);
                }
            }

            @Override
            public java.util.concurrent.Executor executor() {
                return outcome.executor();
            }

            @Override
            public void failed(Throwable cause) {
                outcome.executor().execute(() -> outcome.refused(notStored));
            }
        });
        if (queued) {
            return;
        }
        if (attempt >= origin.path().busyRetries() || !outcome.waiting()) {
            outcome.refused(saturated);
            return;
        }
        vertx.setTimer(BUSY_PAUSE_MS, t -> {
            if (outcome.waiting()) {
                submit(origin, topic, route, doc, message, outcome, attempt + 1);
            } else {
                outcome.refused(saturated);
            }
        });
    }

    private void applyCommitted(Origin origin, DeviceTopic.Upstream topic, Route route, JsonNode doc, Outcome outcome) {
        vertx.executeBlocking(() -> control.apply(origin.device(), topic, doc), false).onComplete(ar -> {
            if (ar.failed()) {
                outcome.refused(new Admission.Refused(Admission.Reason.NOT_STORED, "not applied; send it again"));
                return;
            }
            if (!ar.result() && topic instanceof DeviceTopic.CommandResult result) {
                // stored (the device did answer), acknowledged, and recorded: a device answering commands it never got
                events.record(new SecurityEvent(clock.nowMs(), origin.device().tenant().value(), "mqtt-command-result-refused", NOT_OPEN,
                        origin.device().describe() + " command:" + Printable.clip(result.commandId()), origin.address(), origin.port(),
                        origin.path().eventChannel(), origin.detail()));
            }
            outcome.admitted(route);
        });
    }

    /** Records a refusal with the type its path has always used; a full writer or a failed batch is not recorded. */
    private void record(Origin origin, String topic, Admission.Refused refused) {
        String type = switch (refused.reason()) {
            case WILDCARD_TOPIC, FORBIDDEN_TOPIC, RETAINED, UNSUPPORTED_QOS -> origin.path().topicRefusedType();
            case PAYLOAD_TOO_LARGE -> "payload-too-large";
            case PAYLOAD_INVALID -> origin.path().mqtt() ? "mqtt-payload-invalid" : "device-https-payload-invalid";
            case DEVICE_RATE -> "rate-exceeded";
            case TENANT_QUOTA -> "tenant-rate-exceeded";
            case WRITER_SATURATED, NOT_STORED -> null;
        };
        if (type == null) {
            return;
        }
        if (origin.path() == Origin.Path.MQTT_WILL && refused.reason().ofTheMessage()) {
            type = "mqtt-will-refused"; // what the Will alone could tell: refused at CONNECT, under the Will's own type
        }
        String identity = origin.path().mqtt() ? origin.device().describe() + " topic:" + Printable.clip(topic)
                : origin.device().describe();
        events.record(new SecurityEvent(clock.nowMs(), origin.device().tenant().value(), type, refused.detail(), identity,
                origin.address(), origin.port(), origin.path().eventChannel(), origin.detail()));
    }
}
