package dev.bulwark.server.mqtt;

import dev.bulwark.server.Services;
import dev.bulwark.protocol.DeviceId;
import dev.bulwark.protocol.TenantId;
import dev.bulwark.server.command.CommandService;
import dev.bulwark.server.device.DeviceAuthenticator;
import dev.bulwark.server.monitor.Monitor;
import dev.bulwark.server.pki.PeerCertificates;
import dev.bulwark.server.pki.TlsPolicy;
import dev.bulwark.server.device.DeviceLink;
import dev.bulwark.server.shadow.ConfigService;
import dev.bulwark.server.device.DevicePrincipal;
import dev.bulwark.server.identity.AuthOutcome;
import dev.bulwark.server.monitor.SecurityEvent;
import dev.bulwark.server.telemetry.GroupCommitWriter;
import io.netty.handler.codec.mqtt.MqttConnectReturnCode;
import io.netty.handler.codec.mqtt.MqttProperties;
import io.vertx.core.Vertx;
import io.vertx.core.net.SocketAddress;
import io.vertx.mqtt.MqttEndpoint;
import io.vertx.mqtt.MqttServer;
import io.vertx.mqtt.MqttServerOptions;
import java.security.cert.X509Certificate;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.TimeUnit;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * The MQTT device endpoint: MQTT 3.1.1 and 5.0 over TLS 1.2/1.3, authenticated by client certificate or by
 * device token, with no anonymous CONNECT in any configuration.
 *
 * <p>Path of a connection: TLS handshake (possession of the certificate's key only, see
 * {@link AcceptAnyClientCertificate}) → CONNECT: {@link DeviceAuthenticator} on a worker thread → client
 * id bound to the device id → the Will authorized like any publish → accepted, and an earlier session of
 * the same device is taken over (recorded as {@code duplicate-identity}). Each PUBLISH is authorized by
 * {@link TopicAuthorizer}, checked against the size and rate limits and handed to the
 * {@link GroupCommitWriter}; the PUBACK goes out only after the commit, and only if the session is still
 * connected. Every refusal is a security event.
 */
public final class MqttListener implements DeviceLink {
    private static final Logger LOG = LoggerFactory.getLogger(MqttListener.class);

    private final Vertx vertx;
    private final Services s;
    private final DeviceAuthenticator authenticator;
    private final GroupCommitWriter writer;
    private final ConfigService config;
    private final CommandService commands;
    private MqttServer tls;
    /** The other instances sharing the TLS port, one per further event loop. */
    private final List<MqttServer> tlsShared = new ArrayList<>();
    /** The verticles holding the server instances, undeployed at close. */
    private final List<String> deployments = java.util.Collections.synchronizedList(new ArrayList<>());
    private static final int EVENT_LOOPS = Math.max(1, Runtime.getRuntime().availableProcessors());
    private MqttServer plaintext;
    private volatile boolean shuttingDown;
    private int tlsPort = -1;
    private int plaintextPortBound = -1;

    public MqttListener(Vertx vertx, Services s, DeviceAuthenticator authenticator, GroupCommitWriter writer,
                        ConfigService config, CommandService commands) {
        this.vertx = vertx;
        this.s = s;
        this.authenticator = authenticator;
        this.writer = writer;
        this.config = config;
        this.commands = commands;
        this.throttle = new RecordThrottle(s.clock(), e -> s.securityEvents().record(e));
    }

    /** Refusals an outsider can repeat at will, recorded at most once per interval per source and kind. */
    private dev.bulwark.server.pki.HandshakeFailures handshakeFailures;
    private final RecordThrottle throttle;
    private long flushTimer = -1;
    /** How long a connection may stay without a complete CONNECT (after its TLS handshake). */
    private volatile long connectTimeoutMs = 10_000;
    /** The Topic Alias Maximum advertised to MQTT 5 clients in CONNACK. */
    static final int TOPIC_ALIAS_MAXIMUM = 8;

    /** Changes the CONNECT timeout of new connections (tests shorten it). */
    void connectTimeout(java.time.Duration timeout) {
        this.connectTimeoutMs = timeout.toMillis();
    }

    /** What {@link MqttGuard} reports: refusals and silent connections, recorded with the peer's address and port. */
    private final MqttGuard.Sink guardSink = new MqttGuard.Sink() {
        @Override
        public void refused(java.net.SocketAddress peer, DevicePrincipal device, String type, String reason) {
            java.net.InetSocketAddress a = peer instanceof java.net.InetSocketAddress i ? i : null;
            throttle.record(new SecurityEvent(s.clock().nowMs(), device == null ? null : device.tenant().value(), type, reason,
                    device == null ? null : device.describe(), a == null ? null : a.getAddress().getHostAddress(),
                    a == null ? 0 : a.getPort(), "mqtt", null));
        }

        @Override
        public void silent(java.net.SocketAddress peer, boolean sentBytes, long timeoutMs) {
            java.net.InetSocketAddress a = peer instanceof java.net.InetSocketAddress i ? i : null;
            String address = a == null ? null : a.getAddress().getHostAddress();
            int port = a == null ? 0 : a.getPort();
            // a failure like a failing credential: the same tarpit, and the same detector behind it
            s.monitor().failed(null, "anonymous", null, address, port, "mqtt", "connect-timeout");
            throttle.record(new SecurityEvent(s.clock().nowMs(), null, "mqtt-connect-timeout", "no CONNECT within "
                    + (timeoutMs >= 1000 ? timeoutMs / 1000 + " s" : timeoutMs + " ms")
                    + (sentBytes ? " (only an incomplete packet)" : " (nothing sent)"), null, address, port, "mqtt", null));
        }

        @Override
        public long connectTimeoutMs() {
            return connectTimeoutMs;
        }

        @Override
        public int maxMessageBytes() {
            return s.config().maxPayloadBytes() + 64 * 1024;
        }
    };

    private final java.util.Map<io.vertx.core.Context, LoopAcks> loopExecutors = new java.util.concurrent.ConcurrentHashMap<>();

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

    @Override
    public boolean send(TenantId tenant, DeviceId device, String topic, byte[] payload, Runnable onAck) {
        return s.sessions().get(tenant, device) instanceof DeviceSession session && session.send(topic, payload, onAck);
    }

    /** Binds the TLS listener (and the development plaintext one, when configured); returns the TLS port. */
    public int start() {
        MqttServerOptions options = new MqttServerOptions()
                .setMaxMessageSize(s.config().maxPayloadBytes() + 64 * 1024)
                .setTimeoutOnConnect(CONNECT_IDLE_FALLBACK_S)
                .setAutoClientId(false);
        TlsPolicy.deviceServer(options, s.pki());
        // failed handshakes with their source address, port and reason, one event per source and interval plus a count
        if (handshakeFailures == null) {
            handshakeFailures = new dev.bulwark.server.pki.HandshakeFailures(vertx, s.securityEvents(), s.clock(), "mqtt",
                    dev.bulwark.server.pki.HandshakeFailures.DEFAULT_INTERVAL_MS);
        }
        handshakeFailures.observe(options);
        shuttingDown = false;
        int port = tlsPort >= 0 ? tlsPort : s.config().mqttPort();
        // one server instance per event loop on the same port: Vert.x spreads connections over them, so TLS,
        // MQTT and sealing use every core instead of the one event loop of a single instance (an ephemeral port
        // is shared by asking for port -1, which Vert.x binds once to a random port for all instances)
        options.setHost(s.config().bindAddress()).setPort(port == 0 ? -1 : port);
        tls = listen(options, "TLS");
        tlsPort = tls.actualPort();
        tlsShared.clear();
        for (int i = 1; i < EVENT_LOOPS; i++) {
            tlsShared.add(listen(options, "TLS"));
        }
        if (s.config().devPlaintextPort() >= 0) {
            LOG.warn("**************************************************************************************");
            LOG.warn("* DEVELOPMENT ONLY: plaintext MQTT on 127.0.0.1 (--dev-plaintext). Device tokens     *");
            LOG.warn("* cross this listener unencrypted. Never use it with real devices or credentials.    *");
            LOG.warn("**************************************************************************************");
            plaintext = listen(new MqttServerOptions().setHost("127.0.0.1")
                    .setPort(plaintextPortBound >= 0 ? plaintextPortBound : s.config().devPlaintextPort())
                    .setMaxMessageSize(s.config().maxPayloadBytes() + 64 * 1024).setTimeoutOnConnect(CONNECT_IDLE_FALLBACK_S).setAutoClientId(false),
                    "plaintext");
            plaintextPortBound = plaintext.actualPort();
        }
        if (flushTimer < 0) {
            flushTimer = vertx.setPeriodic(RecordThrottle.INTERVAL_MS, t -> throttle.flush());
        }
        return tls.actualPort();
    }

    /**
     * Vert.x's own CONNECT timeout (reset by every byte received): only a fallback behind {@link MqttGuard}'s
     * deadline, which counts from the connection and is recorded.
     */
    private static final int CONNECT_IDLE_FALLBACK_S = 120;

    /**
     * Binds one server instance in a verticle of its own: each deployment gets an event-loop context of its own,
     * so the instances sharing a port run on different event loops.
     */
    private MqttServer listen(MqttServerOptions options, String what) {
        java.util.concurrent.CompletableFuture<MqttServer> bound = new java.util.concurrent.CompletableFuture<>();
        vertx.deployVerticle(new io.vertx.core.VerticleBase() {
            @Override
            public io.vertx.core.Future<?> start() {
                MqttServer server = MqttServer.create(vertx, options);
                server.endpointHandler(MqttListener.this::connect);
                server.exceptionHandler(e -> {
                    LOG.debug("MQTT connection error: {}", e.toString());
                    record(null, null, "mqtt-connection-error", clip(String.valueOf(e.getMessage())), null);
                });
                guardConnections(server);
                return server.listen().onComplete(ar -> {
                    if (ar.succeeded()) {
                        bound.complete(ar.result());
                    } else {
                        bound.completeExceptionally(ar.cause());
                    }
                });
            }
        }).onSuccess(deployments::add).onFailure(bound::completeExceptionally);
        try {
            return bound.get(30, TimeUnit.SECONDS);
        } catch (Exception e) {
            Throwable cause = e.getCause() == null ? e : e.getCause();
            throw new IllegalStateException("cannot bind the " + what + " MQTT listener on port " + options.getPort() + ": " + cause.getMessage());
        }
    }

    /**
     * Puts {@link MqttGuard} on every connection of {@code server}, right after Vert.x MQTT set up its pipeline:
     * Vert.x MQTT installs its connection handler on its internal {@link io.vertx.core.net.NetServer} (no public
     * accessor, reached by reflection), which is wrapped here. Without the
     * guard the protocol checks would be missing, so the node refuses to start.
     */
    @SuppressWarnings("unchecked")
    private void guardConnections(MqttServer server) {
        try {
            java.lang.reflect.Field f = server.getClass().getDeclaredField("server");
            f.setAccessible(true);
            io.vertx.core.net.NetServer net = (io.vertx.core.net.NetServer) f.get(server);
            Object wrapped = java.lang.reflect.Proxy.newProxyInstance(io.vertx.core.net.NetServer.class.getClassLoader(),
                    new Class<?>[] {io.vertx.core.net.NetServer.class}, (proxy, method, args) -> {
                        if (method.getName().equals("connectHandler") && args != null && args.length == 1 && args[0] != null) {
                            io.vertx.core.Handler<io.vertx.core.net.NetSocket> mqtt = (io.vertx.core.Handler<io.vertx.core.net.NetSocket>) args[0];
                            net.connectHandler(so -> {
                                mqtt.handle(so);
                                MqttGuard.install(((io.vertx.core.internal.net.NetSocketInternal) so).channelHandlerContext().pipeline(), guardSink);
                            });
                            return proxy;
                        }
                        try {
                            return method.invoke(net, args);
                        } catch (java.lang.reflect.InvocationTargetException e) {
                            throw e.getCause();
                        }
                    });
            f.set(server, wrapped);
        } catch (ReflectiveOperationException | RuntimeException e) {
            throw new IllegalStateException("cannot install the MQTT protocol checks (Vert.x MQTT internals changed?): " + e, e);
        }
    }

    public int port() {
        return tls.actualPort();
    }

    /** The plaintext development port, or -1. */
    public int plaintextPort() {
        return plaintext == null ? -1 : plaintext.actualPort();
    }

    /** Live sessions of this node. */
    public dev.bulwark.server.device.LiveSessions sessions() {
        return s.sessions();
    }

    private void connect(MqttEndpoint endpoint) {
        endpoint.publishAutoAck(false);
        if (shuttingDown) {
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
        String credential = certificate != null ? certificate : s.monitor().fingerprint(password);
        if (s.monitor().banned(address, port, credential, "mqtt", s.securityEvents()).isPresent()) {
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
        long epoch = s.sessions().epoch();
        vertx.executeBlocking(authenticate, false)
                .onComplete(ar -> {
                    if (ar.failed()) {
                        LOG.error("device authentication failed unexpectedly", ar.cause());
                        endpoint.reject(v5 ? MqttConnectReturnCode.CONNECTION_REFUSED_SERVER_UNAVAILABLE_5
                                : MqttConnectReturnCode.CONNECTION_REFUSED_SERVER_UNAVAILABLE);
                        return;
                    }
                    long tarpit = s.monitor().attempt(ar.result(), username, credential, address, port, "mqtt");
                    if (ar.result() instanceof AuthOutcome.Refused<DevicePrincipal> r) {
                        record(peer, r.tenantId(), "mqtt-authentication-failed", r.reason(),
                                r.claimedIdentity() == null ? "client-id:" + clip(endpoint.clientIdentifier()) : r.claimedIdentity());
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

    /** Tests only: called on the worker thread after each CONNECT's authentication, before its bind. */
    private volatile java.util.function.Consumer<AuthOutcome<DevicePrincipal>> afterAuthentication;

    void afterAuthentication(java.util.function.Consumer<AuthOutcome<DevicePrincipal>> hook) {
        this.afterAuthentication = hook;
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
            record(peer, tenant, "mqtt-client-id-mismatch", "client id does not match the authenticated device",
                    device.describe() + " client-id:" + clip(clientId));
            endpoint.reject(v5 ? MqttConnectReturnCode.CONNECTION_REFUSED_CLIENT_IDENTIFIER_NOT_VALID
                    : MqttConnectReturnCode.CONNECTION_REFUSED_IDENTIFIER_REJECTED);
            return;
        }
        String willKind = null;
        if (endpoint.will() != null && endpoint.will().isWillFlag()) {
            TopicAuthorizer.Decision d = TopicAuthorizer.publish(device, endpoint.will().getWillTopic(), endpoint.will().isWillRetain());
            if (d instanceof TopicAuthorizer.Decision.Declined declined) {
                record(peer, tenant, "mqtt-will-refused", declined.reason(),
                        device.describe() + " topic:" + clip(endpoint.will().getWillTopic()));
                endpoint.reject(v5 ? MqttConnectReturnCode.CONNECTION_REFUSED_NOT_AUTHORIZED_5
                        : MqttConnectReturnCode.CONNECTION_REFUSED_NOT_AUTHORIZED);
                return;
            }
            willKind = ((TopicAuthorizer.Decision.Allowed) d).kind();
        }
        boolean takeover = s.sessions().get(device.tenant(), device.device()) != null;
        if (!takeover && !s.quotas().connect(tenant)) {
            record(peer, tenant, "tenant-connection-quota-exceeded", "the tenant holds its maximum of " + s.quotas().maxConnections()
                    + " connections", device.describe());
            endpoint.reject(v5 ? MqttConnectReturnCode.CONNECTION_REFUSED_QUOTA_EXCEEDED : MqttConnectReturnCode.CONNECTION_REFUSED_SERVER_UNAVAILABLE);
            return;
        }
        if (takeover) {
            s.quotas().takeOver(tenant); // the session taken over returns its slot when it ends
        }
        DeviceSession session = new DeviceSession(this, s, writer, config, commands, endpoint, device, peer, v5, willKind);
        var previous = s.sessions().put(session);
        if (previous instanceof DeviceSession previousSession) {
            record(peer, tenant, "duplicate-identity", "a second connection with the same identity took over the session",
                    device.describe() + " previous-source:" + previousSession.source() + " new-source:" + addr(peer));
            previousSession.takenOver();
        }
        if (s.sessions().epoch() == epoch) {
            accept(endpoint, session, device, v5);
            return;
        }
        // a quarantine, disable or revocation committed while this CONNECT was being authenticated: authenticate
        // again, now that the session is registered (a termination from now on finds it and closes it)
        vertx.executeBlocking(authenticate, false).onComplete(ar -> {
            boolean still = ar.succeeded() && ar.result() instanceof AuthOutcome.Authenticated<DevicePrincipal> ok
                    && ok.principal().equals(device);
            if (still && !closedEarly[0] && !session.closing() && s.sessions().get(device.tenant(), device.device()) == session) {
                accept(endpoint, session, device, v5);
                return;
            }
            ended(session);
            if (closedEarly[0] || session.closing()) {
                return; // the client left, or a termination already closed the connection (and recorded it)
            }
            String reason = ar.failed() ? "authentication-failed-unexpectedly"
                    : ar.result() instanceof AuthOutcome.Refused<DevicePrincipal> r ? r.reason() : "credential-changed";
            record(peer, tenant, "mqtt-authentication-failed", "revoked while the CONNECT was being authenticated: " + reason,
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
        s.sessions().remove(session);
        s.quotas().disconnect(session.tenant());
    }

    void record(SocketAddress peer, String tenant, String type, String reason, String identity) {
        s.securityEvents().record(new SecurityEvent(s.clock().nowMs(), tenant, type, reason, identity,
                peer == null ? null : peer.hostAddress(), peer == null ? 0 : peer.port(), "mqtt", null));
    }

    static String addr(SocketAddress a) {
        return a == null ? "" : a.hostAddress() + ":" + a.port();
    }

    static String clip(String s) {
        if (s == null) {
            return "";
        }
        String printable = s.replaceAll("[^\\x20-\\x7e]", "?");
        return printable.length() > 100 ? printable.substring(0, 100) : printable;
    }

    /**
     * Stops the listener gracefully: refuses new connections, lets every session acknowledge what it is
     * committing and disconnect ({@link DeviceSession#serverShutdown()}), then unbinds. {@link #start()}
     * binds the same ports again.
     */
    public void close() {
        shuttingDown = true;
        if (handshakeFailures != null) {
            handshakeFailures.close();
            handshakeFailures = null;
        }
        if (flushTimer >= 0) {
            vertx.cancelTimer(flushTimer);
            flushTimer = -1;
        }
        throttle.flush();
        List<io.vertx.core.Future<Void>> ended = new ArrayList<>();
        for (var session : s.sessions().all()) {
            if (session instanceof DeviceSession ds) {
                ended.add(ds.serverShutdown());
            }
        }
        try {
            io.vertx.core.Future.join(ended).toCompletionStage().toCompletableFuture().get(10, TimeUnit.SECONDS);
        } catch (Exception e) {
            LOG.warn("MQTT sessions did not all end cleanly: {}", e.toString());
        }
        List<MqttServer> servers = new ArrayList<>(tlsShared);
        servers.add(tls);
        servers.add(plaintext);
        for (MqttServer server : servers) {
            if (server != null) {
                try {
                    server.close().toCompletionStage().toCompletableFuture().get(10, TimeUnit.SECONDS);
                } catch (Exception e) {
                    LOG.warn("MQTT listener did not close cleanly: {}", e.toString());
                }
            }
        }
        List<String> ids;
        synchronized (deployments) {
            ids = new ArrayList<>(deployments);
            deployments.clear();
        }
        for (String id : ids) {
            try {
                vertx.undeploy(id).toCompletionStage().toCompletableFuture().get(10, TimeUnit.SECONDS);
            } catch (Exception e) {
                LOG.debug("MQTT listener verticle did not undeploy: {}", e.toString());
            }
        }
    }

    static MqttProperties none() {
        return MqttProperties.NO_PROPERTIES;
    }
}
