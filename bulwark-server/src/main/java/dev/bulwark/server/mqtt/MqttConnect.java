package dev.bulwark.server.mqtt;

import dev.bulwark.server.command.CommandService;
import dev.bulwark.server.crypto.Secrets;
import dev.bulwark.server.device.DeviceAuthenticator;
import dev.bulwark.server.device.DevicePrincipal;
import dev.bulwark.server.device.LiveSessions;
import dev.bulwark.server.device.TenantQuotas;
import dev.bulwark.server.identity.AuthOutcome;
import dev.bulwark.server.ingress.Admission;
import dev.bulwark.server.ingress.IngressGate;
import dev.bulwark.server.ingress.Origin;
import dev.bulwark.server.ingress.Printable;
import dev.bulwark.server.monitor.Monitor;
import dev.bulwark.server.pki.PeerCertificates;
import dev.bulwark.server.shadow.ConfigService;
import io.netty.handler.codec.mqtt.MqttConnectReturnCode;
import io.netty.handler.codec.mqtt.MqttProperties;
import io.vertx.core.Vertx;
import io.vertx.core.net.SocketAddress;
import io.vertx.mqtt.MqttEndpoint;
import java.security.cert.X509Certificate;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * The CONNECT of one connection: ban check → {@link DeviceAuthenticator} on a worker thread (with the monitor's
 * tarpit) → client id bound to the device id → the Will checked by the {@link IngressGate} for what the message
 * alone tells (topic, flags, size, route shape) → the tenant's connection quota → the session registered, an
 * earlier session of the same device taken over (recorded as {@code duplicate-identity}) → accepted, unless a
 * revocation committed meanwhile (then authenticated once more). Every refusal is a security event.
 */
final class MqttConnect {
    private static final Logger LOG = LoggerFactory.getLogger(MqttConnect.class);
    /** The Topic Alias Maximum advertised to MQTT 5 clients in CONNACK. */
    static final int TOPIC_ALIAS_MAXIMUM = 8;

    private final Vertx vertx;
    private final Monitor monitor;
    private final LiveSessions sessions;
    private final TenantQuotas quotas;
    private final DeviceAuthenticator authenticator;
    private final IngressGate gate;
    private final ConfigService config;
    private final CommandService commands;
    private final MqttEvents events;
    private final java.util.function.BooleanSupplier shuttingDown;
    private final java.util.Map<io.vertx.core.Context, LoopAcks> loopExecutors = new java.util.concurrent.ConcurrentHashMap<>();
    /** Tests only: called on the worker thread after each CONNECT's authentication, before its bind. */
    private volatile java.util.function.Consumer<AuthOutcome<DevicePrincipal>> afterAuthentication;

    MqttConnect(Vertx vertx, Monitor monitor, LiveSessions sessions, TenantQuotas quotas, DeviceAuthenticator authenticator,
                IngressGate gate, ConfigService config, CommandService commands, MqttEvents events,
                java.util.function.BooleanSupplier shuttingDown) {
        this.vertx = vertx;
        this.monitor = monitor;
        this.sessions = sessions;
        this.quotas = quotas;
        this.authenticator = authenticator;
        this.gate = gate;
        this.config = config;
        this.commands = commands;
        this.events = events;
        this.shuttingDown = shuttingDown;
    }

    MqttEvents events() {
        return events;
    }

    void afterAuthentication(java.util.function.Consumer<AuthOutcome<DevicePrincipal>> hook) {
        this.afterAuthentication = hook;
    }

    /** One executor per context (a server instance's event loop), so that its sessions' completions group together. */
    LoopAcks executorFor(io.vertx.core.Context context) {
        LoopAcks ex = loopExecutors.get(context);
        if (ex == null) {
            ex = new LoopAcks(context);
            if (loopExecutors.size() < 64) {
                LoopAcks had = loopExecutors.putIfAbsent(context, ex);
                ex = had == null ? ex : had;
            }
        }
        return ex;
    }

    void connect(MqttEndpoint endpoint) {
        endpoint.publishAutoAck(false);
        if (shuttingDown.getAsBoolean()) {
            endpoint.reject(endpoint.protocolVersion() == 5 ? MqttConnectReturnCode.CONNECTION_REFUSED_SERVER_UNAVAILABLE_5
                    : MqttConnectReturnCode.CONNECTION_REFUSED_SERVER_UNAVAILABLE);
            return;
        }
        SocketAddress peer = endpoint.remoteAddress();
        String address = peer == null ? null : peer.hostAddress();
        int port = peer == null ? 0 : peer.port();
        X509Certificate[] chain = PeerCertificates.of(endpoint.sslSession());
        String username = endpoint.auth() == null ? null : endpoint.auth().getUsername();
        String password = endpoint.auth() == null ? null : endpoint.auth().getPassword();
        boolean v5 = endpoint.protocolVersion() == 5;
        String certificate = Monitor.fingerprint(chain);
        String credential = certificate != null ? certificate : monitor.fingerprint(password);
        if (monitor.banned(address, port, credential, "mqtt", events.securityEvents()).isPresent()) {
            endpoint.reject(v5 ? MqttConnectReturnCode.CONNECTION_REFUSED_BANNED : MqttConnectReturnCode.CONNECTION_REFUSED_NOT_AUTHORIZED);
            return;
        }
        boolean[] closedEarly = new boolean[1];
        endpoint.closeHandler(v -> closedEarly[0] = true); // replaced by the session's own handler once it starts
        java.util.concurrent.Callable<AuthOutcome<DevicePrincipal>> authenticate = () -> {
            AuthOutcome<DevicePrincipal> outcome = chain != null
                    ? authenticator.byCertificate(chain)
                    : username != null && password != null
                    ? authenticator.byToken(username, password.getBytes(java.nio.charset.StandardCharsets.UTF_8))
                    : new AuthOutcome.Refused<DevicePrincipal>("no-credentials", username);
            var hook = afterAuthentication;
            if (hook != null) {
                hook.accept(outcome); // tests only: runs on the worker thread, between authentication and bind
            }
            return outcome;
        };
        // read before the authenticator reads the device's state: see LiveSessions#epoch
        long epoch = sessions.epoch();
        vertx.executeBlocking(authenticate, false)
                .onComplete(ar -> {
                    if (ar.failed()) {
                        LOG.error("device authentication failed unexpectedly", ar.cause());
                        endpoint.reject(v5 ? MqttConnectReturnCode.CONNECTION_REFUSED_SERVER_UNAVAILABLE_5
                                : MqttConnectReturnCode.CONNECTION_REFUSED_SERVER_UNAVAILABLE);
                        return;
                    }
                    long tarpit = monitor.attempt(ar.result(), username, credential, address, port, "mqtt");
                    if (ar.result() instanceof AuthOutcome.Refused<DevicePrincipal> r) {
                        events.record(peer, r.tenantId(), "mqtt-authentication-failed", r.reason(),
                                r.claimedIdentity() == null ? "client-id:" + Printable.clip(endpoint.clientIdentifier()) : r.claimedIdentity());
                        MqttConnectReturnCode code = chain == null && !"no-credentials".equals(r.reason())
                                ? (v5 ? MqttConnectReturnCode.CONNECTION_REFUSED_BAD_USERNAME_OR_PASSWORD
                                        : MqttConnectReturnCode.CONNECTION_REFUSED_BAD_USER_NAME_OR_PASSWORD)
                                : (v5 ? MqttConnectReturnCode.CONNECTION_REFUSED_NOT_AUTHORIZED_5
                                        : MqttConnectReturnCode.CONNECTION_REFUSED_NOT_AUTHORIZED);
                        if (tarpit > 0) {
                            // the tarpit: a source that keeps failing waits longer and longer for each refusal
                            vertx.setTimer(tarpit, t -> rejectQuietly(endpoint, code));
                        } else {
                            endpoint.reject(code);
                        }
                        return;
                    }
                    DevicePrincipal device = ((AuthOutcome.Authenticated<DevicePrincipal>) ar.result()).principal();
                    var pipeline = LoopAcks.pipeline(endpoint);
                    if (closedEarly[0] || MqttGuard.refused(pipeline == null ? null : pipeline.channel())) {
                        return; // the client left, or sent what MqttGuard refused, during authentication: nothing to bind
                    }
                    bind(endpoint, device, peer, v5, epoch, authenticate, closedEarly);
                });
    }

    private static void rejectQuietly(MqttEndpoint endpoint, MqttConnectReturnCode code) {
        try {
            endpoint.reject(code);
        } catch (IllegalStateException | IllegalArgumentException closedMeanwhile) {
            // the client gave up waiting
        }
    }

    private void bind(MqttEndpoint endpoint, DevicePrincipal device, SocketAddress peer, boolean v5, long epoch,
                      java.util.concurrent.Callable<AuthOutcome<DevicePrincipal>> authenticate, boolean[] closedEarly) {
        String tenant = device.tenant().value();
        String clientId = endpoint.clientIdentifier();
        if (clientId == null || clientId.isEmpty()) {
            endpoint.setClientIdentifier(device.device().value());
        } else if (!clientId.equals(device.device().value())) {
            events.record(peer, tenant, "mqtt-client-id-mismatch", "client id does not match the authenticated device",
                    device.describe() + " client-id:" + Printable.clip(clientId));
            endpoint.reject(v5 ? MqttConnectReturnCode.CONNECTION_REFUSED_CLIENT_IDENTIFIER_NOT_VALID
                    : MqttConnectReturnCode.CONNECTION_REFUSED_IDENTIFIER_REJECTED);
            return;
        }
        Origin origin = Origin.of(device, Origin.Path.MQTT_PUBLISH, peer == null ? null : peer.hostAddress(),
                peer == null ? 0 : peer.port(), Secrets.randomHex(8), null);
        DeviceSession.Will will = null;
        if (endpoint.will() != null && endpoint.will().isWillFlag()) {
            var w = endpoint.will();
            byte[] payload = w.getWillMessageBytes() == null ? new byte[0] : w.getWillMessageBytes();
            // a Will that could never be admitted is refused now, while the device can still be told why
            Admission.Refused refused = gate.screenWill(origin.on(Origin.Path.MQTT_WILL), w.getWillTopic(), w.getWillQos(),
                    w.isWillRetain(), payload);
            if (refused != null) {
                endpoint.reject(MqttCodes.connack(refused.reason(), v5));
                return;
            }
            will = new DeviceSession.Will(w.getWillTopic(), w.getWillQos(), payload);
        }
        boolean takeover = sessions.get(device.tenant(), device.device()) != null;
        if (!takeover && !quotas.connect(tenant)) {
            events.record(peer, tenant, "tenant-connection-quota-exceeded", "the tenant holds its maximum of " + quotas.maxConnections()
                    + " connections", device.describe());
            endpoint.reject(v5 ? MqttConnectReturnCode.CONNECTION_REFUSED_QUOTA_EXCEEDED : MqttConnectReturnCode.CONNECTION_REFUSED_SERVER_UNAVAILABLE);
            return;
        }
        if (takeover) {
            quotas.takeOver(tenant); // the session taken over returns its slot when it ends
        }
        Downlink downlink = new Downlink(endpoint, device, peer, v5, io.vertx.core.Vertx.currentContext(), events, config, commands);
        DeviceSession session = new DeviceSession(this, gate, origin, will, downlink, endpoint, v5);
        var previous = sessions.put(session);
        if (previous instanceof DeviceSession previousSession) {
            events.record(peer, tenant, "duplicate-identity", "a second connection with the same identity took over the session",
                    device.describe() + " previous-source:" + previousSession.source() + " new-source:" + origin.source());
            previousSession.takenOver();
        }
        if (sessions.epoch() == epoch) {
            accept(endpoint, session, device, v5);
            return;
        }
        // a quarantine, disable or revocation committed while this CONNECT was being authenticated: authenticate
        // again, now that the session is registered (a termination from now on finds it and closes it)
        vertx.executeBlocking(authenticate, false).onComplete(ar -> {
            boolean still = ar.succeeded() && ar.result() instanceof AuthOutcome.Authenticated<DevicePrincipal> ok
                    && ok.principal().equals(device);
            if (still && !closedEarly[0] && !session.closing() && sessions.get(device.tenant(), device.device()) == session) {
                accept(endpoint, session, device, v5);
                return;
            }
            ended(session);
            if (closedEarly[0] || session.closing()) {
                return; // the client left, or a termination already closed the connection (and recorded it)
            }
            String reason = ar.failed() ? "authentication-failed-unexpectedly"
                    : ar.result() instanceof AuthOutcome.Refused<DevicePrincipal> r ? r.reason() : "credential-changed";
            events.record(peer, tenant, "mqtt-authentication-failed", "revoked while the CONNECT was being authenticated: " + reason,
                    device.describe());
            rejectQuietly(endpoint, v5 ? MqttConnectReturnCode.CONNECTION_REFUSED_NOT_AUTHORIZED_5
                    : MqttConnectReturnCode.CONNECTION_REFUSED_NOT_AUTHORIZED);
        });
    }

    private static void accept(MqttEndpoint endpoint, DeviceSession session, DevicePrincipal device, boolean v5) {
        var pipeline = LoopAcks.pipeline(endpoint);
        MqttGuard.bound(pipeline == null ? null : pipeline.channel(), device);
        if (v5) {
            MqttProperties properties = new MqttProperties();
            properties.add(new MqttProperties.IntegerProperty(MqttProperties.MqttPropertyType.TOPIC_ALIAS_MAXIMUM.value(), TOPIC_ALIAS_MAXIMUM));
            endpoint.accept(false, properties);
        } else {
            endpoint.accept(false);
        }
        session.start();
    }

    void ended(DeviceSession session) {
        sessions.remove(session);
        quotas.disconnect(session.tenant());
    }
}
