package dev.bulwark.server.mqtt;

import dev.bulwark.protocol.DeviceId;
import dev.bulwark.protocol.TenantId;
import dev.bulwark.server.command.CommandService;
import dev.bulwark.server.config.ServerConfig;
import dev.bulwark.server.core.Clock;
import dev.bulwark.server.device.DeviceAuthenticator;
import dev.bulwark.server.device.DeviceLink;
import dev.bulwark.server.device.DevicePrincipal;
import dev.bulwark.server.device.LiveSessions;
import dev.bulwark.server.device.TenantQuotas;
import dev.bulwark.server.identity.AuthOutcome;
import dev.bulwark.server.ingress.IngressGate;
import dev.bulwark.server.ingress.Printable;
import dev.bulwark.server.monitor.Monitor;
import dev.bulwark.server.monitor.SecurityEvents;
import dev.bulwark.server.pki.PlatformPki;
import dev.bulwark.server.pki.TlsPolicy;
import dev.bulwark.server.shadow.ConfigService;
import io.vertx.core.Vertx;
import io.vertx.mqtt.MqttServer;
import io.vertx.mqtt.MqttServerOptions;
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
 * {@link AcceptAnyClientCertificate}) → CONNECT ({@link MqttConnect}): {@link DeviceAuthenticator} on a worker thread → client
 * id bound to the device id → the Will authorized like any publish → accepted, and an earlier session of
 * the same device is taken over (recorded as {@code duplicate-identity}). Each PUBLISH (and the Will, when it is
 * published) passes the {@link IngressGate}; the PUBACK goes out only after the commit, and only if the session
 * is still connected. Every refusal is a security event.
 *
 * <p>This class binds and unbinds the listeners (one server instance per event loop, with {@link MqttGuard} on
 * every connection); {@link MqttConnect} handles each CONNECT, {@link DeviceSession} each accepted connection.
 */
public final class MqttListener implements DeviceLink {
    private static final Logger LOG = LoggerFactory.getLogger(MqttListener.class);
    private static final int EVENT_LOOPS = Math.max(1, Runtime.getRuntime().availableProcessors());
    /** The Topic Alias Maximum advertised to MQTT 5 clients in CONNACK. */
    static final int TOPIC_ALIAS_MAXIMUM = MqttConnect.TOPIC_ALIAS_MAXIMUM;

    private final Vertx vertx;
    private final ServerConfig config;
    private final Clock clock;
    private final PlatformPki pki;
    private final SecurityEvents securityEvents;
    private final LiveSessions sessions;
    private final MqttEvents events;
    private final MqttConnect connects;
    private MqttServer tls;
    /** The other instances sharing the TLS port, one per further event loop. */
    private final List<MqttServer> tlsShared = new ArrayList<>();
    /** The verticles holding the server instances, undeployed at close. */
    private final List<String> deployments = java.util.Collections.synchronizedList(new ArrayList<>());
    private MqttServer plaintext;
    private volatile boolean shuttingDown;
    private int tlsPort = -1;
    private int plaintextPortBound = -1;
    /** Refusals an outsider can repeat at will, recorded at most once per interval per source and kind. */
    private dev.bulwark.server.monitor.HandshakeFailures handshakeFailures;
    private long flushTimer = -1;

    /**
     * @param gate     the admission of every device message (PUBLISH and Will)
     * @param shadow   pushes the desired configuration when a device subscribes to it
     * @param commands delivers queued commands when a device subscribes to them
     */
    public MqttListener(Vertx vertx, ServerConfig config, Clock clock, PlatformPki pki, SecurityEvents securityEvents, Monitor monitor,
                        LiveSessions sessions, TenantQuotas quotas, DeviceAuthenticator authenticator, IngressGate gate,
                        ConfigService shadow, CommandService commands) {
        this.vertx = vertx;
        this.config = config;
        this.clock = clock;
        this.pki = pki;
        this.securityEvents = securityEvents;
        this.sessions = sessions;
        this.events = new MqttEvents(clock, securityEvents, monitor, config.maxPayloadBytes() + 64 * 1024);
        this.connects = new MqttConnect(vertx, monitor, sessions, quotas, authenticator, gate, shadow, commands, events,
                () -> shuttingDown);
    }

    /** Changes the CONNECT timeout of new connections (tests shorten it). */
    void connectTimeout(java.time.Duration timeout) {
        events.connectTimeout(timeout.toMillis());
    }

    /** Tests only: called on the worker thread after each CONNECT's authentication, before its bind. */
    public void afterAuthentication(java.util.function.Consumer<AuthOutcome<DevicePrincipal>> hook) {
        connects.afterAuthentication(hook);
    }

    @Override
    public boolean send(TenantId tenant, DeviceId device, String topic, byte[] payload, Runnable onAck) {
        return sessions.get(tenant, device) instanceof DeviceSession session && session.send(topic, payload, onAck);
    }

    /** Binds the TLS listener (and the development plaintext one, when configured); returns the TLS port. */
    public int start() {
        MqttServerOptions options = new MqttServerOptions()
                .setMaxMessageSize(config.maxPayloadBytes() + 64 * 1024)
                .setTimeoutOnConnect(CONNECT_IDLE_FALLBACK_S)
                .setAutoClientId(false);
        TlsPolicy.deviceServer(options, pki);
        // behind a PROXY protocol load balancer: the device's address from the header (not on the dev plaintext listener)
        dev.bulwark.server.monitor.PeerAddress.proxyProtocol(options, config.proxyProtocol());
        // failed handshakes with their source address, port and reason, one event per source and interval plus a count
        if (handshakeFailures == null) {
            handshakeFailures = new dev.bulwark.server.monitor.HandshakeFailures(vertx, securityEvents, clock, "mqtt",
                    dev.bulwark.server.monitor.HandshakeFailures.DEFAULT_INTERVAL_MS);
        }
        handshakeFailures.observe(options);
        shuttingDown = false;
        int port = tlsPort >= 0 ? tlsPort : config.mqttPort();
        // one server instance per event loop on the same port: Vert.x spreads connections over them, so TLS,
        // MQTT and sealing use every core instead of the one event loop of a single instance (an ephemeral port
        // is shared by asking for port -1, which Vert.x binds once to a random port for all instances)
        options.setHost(config.bindAddress()).setPort(port == 0 ? -1 : port);
        tls = listen(options, "TLS");
        tlsPort = tls.actualPort();
        tlsShared.clear();
        for (int i = 1; i < EVENT_LOOPS; i++) {
            tlsShared.add(listen(options, "TLS"));
        }
        if (config.devPlaintextPort() >= 0) {
            LOG.warn("**************************************************************************************");
            LOG.warn("* DEVELOPMENT ONLY: plaintext MQTT on 127.0.0.1 (--dev-plaintext). Device tokens     *");
            LOG.warn("* cross this listener unencrypted. Never use it with real devices or credentials.    *");
            LOG.warn("**************************************************************************************");
            plaintext = listen(new MqttServerOptions().setHost("127.0.0.1")
                    .setPort(plaintextPortBound >= 0 ? plaintextPortBound : config.devPlaintextPort())
                    .setMaxMessageSize(config.maxPayloadBytes() + 64 * 1024).setTimeoutOnConnect(CONNECT_IDLE_FALLBACK_S).setAutoClientId(false),
                    "plaintext");
            plaintextPortBound = plaintext.actualPort();
        }
        if (flushTimer < 0) {
            flushTimer = vertx.setPeriodic(RecordThrottle.INTERVAL_MS, t -> events.flush());
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
                server.endpointHandler(connects::connect);
                server.exceptionHandler(e -> {
                    LOG.debug("MQTT connection error: {}", e.toString());
                    events.record((io.vertx.core.net.SocketAddress) null, null, "mqtt-connection-error", Printable.clip(String.valueOf(e.getMessage())), null);
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
                                MqttGuard.install(((io.vertx.core.internal.net.NetSocketInternal) so).channelHandlerContext().pipeline(), events);
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
        return sessions;
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
        events.flush();
        List<io.vertx.core.Future<Void>> ended = new ArrayList<>();
        for (var session : sessions.all()) {
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
}
