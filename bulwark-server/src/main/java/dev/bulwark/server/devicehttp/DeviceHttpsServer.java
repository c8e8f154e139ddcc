package dev.bulwark.server.devicehttp;

import dev.bulwark.server.config.ServerConfig;
import dev.bulwark.server.crypto.Secrets;
import dev.bulwark.server.device.DeviceAuthenticator;
import dev.bulwark.server.device.DevicePrincipal;
import dev.bulwark.server.device.EstService;
import dev.bulwark.server.http.StrictHttp1;
import dev.bulwark.server.identity.AuthOutcome;
import dev.bulwark.server.ingress.Admission;
import dev.bulwark.server.ingress.IngressGate;
import dev.bulwark.server.ingress.Origin;
import dev.bulwark.server.ingress.Outcome;
import dev.bulwark.server.ingress.Route;
import dev.bulwark.server.monitor.HandshakeFailures;
import dev.bulwark.server.monitor.Monitor;
import dev.bulwark.server.monitor.SecurityEvent;
import dev.bulwark.server.pki.PeerCertificates;
import dev.bulwark.server.pki.TlsPolicy;
import io.vertx.core.Vertx;
import io.vertx.core.buffer.Buffer;
import io.vertx.core.http.HttpServer;
import io.vertx.core.http.HttpServerOptions;
import io.vertx.core.net.SocketAddress;
import io.vertx.ext.web.Router;
import io.vertx.ext.web.RoutingContext;
import io.vertx.ext.web.handler.BodyHandler;
import java.nio.charset.StandardCharsets;
import java.security.cert.X509Certificate;
import java.util.Base64;
import java.util.concurrent.TimeUnit;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * The HTTPS face for devices (separate from the operator API): devices that cannot keep an MQTT session
 * post telemetry and events here, with the same identities (client certificate, or
 * {@code Authorization: Basic base64(deviceId@tenantId:token)}) and through the same {@link IngressGate} as MQTT
 * (size, device rate, tenant quota, writer), with the same durability: {@code 204} is sent only after the group
 * commit. A refusal is answered with the status of {@link #status}: 413, 429 (with {@code Retry-After}), 503.
 *
 * <ul>
 *   <li>EST enrollment under {@code /.well-known/est/} (see {@link EstEndpoint}).</li>
 *   <li>{@code POST /device/v1/telemetry}, {@code POST /device/v1/events}: the body is the payload.</li>
 * </ul>
 */
public final class DeviceHttpsServer {
    private static final Logger LOG = LoggerFactory.getLogger(DeviceHttpsServer.class);

    private final Vertx vertx;
    private final ServerConfig config;
    private final dev.bulwark.server.core.Clock clock;
    private final dev.bulwark.server.pki.PlatformPki pki;
    private final dev.bulwark.server.monitor.SecurityEvents securityEvents;
    private final Monitor monitor;
    private final DeviceAuthenticator authenticator;
    private final IngressGate gate;
    private final EstEndpoint est;
    private final FirmwareEndpoint firmware;
    private HttpServer server;
    private HandshakeFailures handshakeFailures;

    public DeviceHttpsServer(Vertx vertx, ServerConfig config, dev.bulwark.server.core.Clock clock, dev.bulwark.server.pki.PlatformPki pki,
                             dev.bulwark.server.monitor.SecurityEvents securityEvents, Monitor monitor, dev.bulwark.server.store.Database db,
                             dev.bulwark.server.device.DeviceStore devices, DeviceAuthenticator authenticator, IngressGate gate,
                             EstService est, dev.bulwark.server.firmware.FirmwareService firmware,
                             dev.bulwark.server.firmware.RolloutService rollouts) {
        this.vertx = vertx;
        this.config = config;
        this.clock = clock;
        this.pki = pki;
        this.securityEvents = securityEvents;
        this.monitor = monitor;
        this.authenticator = authenticator;
        this.gate = gate;
        this.est = new EstEndpoint(vertx, clock, pki, securityEvents, monitor, est);
        this.firmware = new FirmwareEndpoint(vertx, clock, db, devices, securityEvents, this, firmware, rollouts);
    }

    public int start() {
        HttpServerOptions options = TlsPolicy.deviceServer(new HttpServerOptions(), pki)
                .setHost(config.bindAddress()).setPort(config.deviceHttpsPort())
                .setMaxHeaderSize(8 * 1024).setIdleTimeout(60).setIdleTimeoutUnit(TimeUnit.SECONDS).setCompressionSupported(false);
        dev.bulwark.server.monitor.PeerAddress.proxyProtocol(options, config.proxyProtocol());
        Router router = Router.router(vertx);
        router.route().handler(ctx -> {
            dev.bulwark.server.http.StrictHttp1.closeWhenBodyUnread(ctx);
            ctx.response().putHeader("Cache-Control", "no-store").putHeader("X-Content-Type-Options", "nosniff");
            ctx.next();
        });
        int payloadLimit = config.maxPayloadBytes();
        BodyHandler body = BodyHandler.create(false).setBodyLimit(payloadLimit).setHandleFileUploads(false);
        router.post("/device/v1/telemetry").handler(StrictHttp1.beforeBody(ctx -> authenticateFirst(ctx, payloadLimit, false))).handler(body)
                .handler(ctx -> ingest(ctx, Route.TELEMETRY));
        router.post("/device/v1/events").handler(StrictHttp1.beforeBody(ctx -> authenticateFirst(ctx, payloadLimit, false))).handler(body)
                .handler(ctx -> ingest(ctx, Route.EVENTS));
        est.mount(router);
        firmware.mount(router);
        router.route().failureHandler(ctx -> {
            if (ctx.statusCode() == 413) {
                int limit = ctx.request().path().startsWith("/.well-known/est/") ? EstEndpoint.MAX_CSR_BYTES : config.maxPayloadBytes();
                record(ctx, null, "payload-too-large", "body exceeds the limit of " + limit + " bytes", null);
                problem(ctx, 413, "payload-too-large", "payload exceeds the limit of " + limit + " bytes");
            } else {
                problem(ctx, ctx.statusCode() > 0 && ctx.statusCode() < 500 ? ctx.statusCode() : 500, "request-failed", "request failed");
            }
        });
        router.errorHandler(404, ctx -> problem(ctx, 404, "not-found", "no such route"));
        router.errorHandler(405, ctx -> problem(ctx, 405, "method-not-allowed", "method not allowed on this route"));
        handshakeFailures = new HandshakeFailures(vertx, securityEvents, clock, "device-https", HandshakeFailures.DEFAULT_INTERVAL_MS);
        handshakeFailures.observe(options);
        try {
            HttpServer http = vertx.createHttpServer(options).requestHandler(router);
            StrictHttp1.install(http, 4096, 8 * 1024, (type, reason, peer, detail) -> securityEvents.record(new SecurityEvent(
                    clock.nowMs(), null, type, reason, null, peer == null ? null : peer.hostAddress(), peer == null ? 0 : peer.port(),
                    "device-https", detail)));
            server = http.listen()
                    .toCompletionStage().toCompletableFuture().get(30, TimeUnit.SECONDS);
        } catch (Exception e) {
            Throwable cause = e.getCause() == null ? e : e.getCause();
            throw new IllegalStateException("cannot bind the device HTTPS listener on port " + config.deviceHttpsPort() + ": " + cause.getMessage());
        }
        return server.actualPort();
    }

    public int port() {
        return server.actualPort();
    }

    private void ingest(RoutingContext ctx, Route route) {
        byte[] payload = ctx.body().buffer() == null ? new byte[0] : ctx.body().buffer().getBytes();
        accept(ctx, ctx.get(DEVICE), route, payload);
    }

    /**
     * The first step of a route that takes a body: the request is paused and the device authenticated (with the
     * monitor's ban and tarpit) before a byte of the body is read. A refused caller is answered and its connection
     * closed with the body unread; a declared {@code Content-Length} above {@code limit} is answered 413 the same
     * way. Then the body handler reads the body and the route finds the device under {@link #DEVICE}.
     */
    void authenticateFirst(RoutingContext ctx, int limit, boolean hidden) {
        ctx.request().pause();
        withDevice(ctx, device -> {
            long declared = dev.bulwark.server.http.StrictHttp1.declaredLength(ctx);
            if (declared > limit) {
                record(ctx, device.tenant().value(), "payload-too-large", "declared body of " + declared + " bytes exceeds the limit of "
                        + limit + " bytes", device.describe());
                problem(ctx, 413, "payload-too-large", "payload exceeds the limit of " + limit + " bytes");
                return;
            }
            ctx.put(DEVICE, device);
            ctx.next();
        }, hidden);
    }

    static final String DEVICE = "bulwark.device";

    /**
     * Authenticates the device behind a request (client certificate, or Basic {@code device@tenant:token}),
     * with the source checks of the monitor (ban, tarpit), and runs {@code then} on the event loop.
     */
    void withDevice(RoutingContext ctx, java.util.function.Consumer<DevicePrincipal> then) {
        withDevice(ctx, then, false);
    }

    /** As above; with {@code hidden}, a refused caller gets 404, as for a resource that does not exist. */
    void withDevice(RoutingContext ctx, java.util.function.Consumer<DevicePrincipal> then, boolean hidden) {
        X509Certificate[] chain = PeerCertificates.of(ctx.request().sslSession());
        String[] basic = basic(ctx.request().getHeader("Authorization"));
        SocketAddress peer = ctx.request().remoteAddress();
        String address = peer == null ? null : peer.hostAddress();
        int port = peer == null ? 0 : peer.port();
        String certificate = Monitor.fingerprint(chain);
        String credential = certificate != null ? certificate : basic == null ? null : monitor.fingerprint(basic[1]);
        if (monitor.banned(address, port, credential, "device-https", securityEvents).isPresent()) {
            problem(ctx, 403, "source-banned", "this source address is temporarily banned");
            return;
        }
        vertx.executeBlocking(() -> chain != null ? authenticator.byCertificate(chain)
                        : basic != null ? authenticator.byToken(basic[0], basic[1].getBytes(StandardCharsets.UTF_8))
                        : new AuthOutcome.Refused<DevicePrincipal>("no-credentials", null), false)
                .onComplete(ar -> {
                    if (ar.failed()) {
                        LOG.error("device authentication failed unexpectedly", ar.cause());
                        problem(ctx, 503, "unavailable", "try again later");
                        return;
                    }
                    long tarpit = monitor.attempt(ar.result(), basic == null ? null : basic[0], credential, address, port, "device-https");
                    if (ar.result() instanceof AuthOutcome.Refused<DevicePrincipal> r) {
                        record(ctx, r.tenantId(), "device-https-authentication-failed", r.reason(), r.claimedIdentity());
                        Runnable refuse = hidden ? () -> problem(ctx, 404, "not-found", "no such resource") : () -> {
                            ctx.response().putHeader("WWW-Authenticate", "Basic realm=\"bulwark-devices\"");
                            problem(ctx, 401, "unauthenticated", "a valid device certificate or device token is required");
                        };
                        if (tarpit > 0) {
                            vertx.setTimer(tarpit, t -> refuse.run());
                        } else {
                            refuse.run();
                        }
                        return;
                    }
                    then.accept(((AuthOutcome.Authenticated<DevicePrincipal>) ar.result()).principal());
                });
    }

    /** Passes the body through the gate as a message to the device's own topic of {@code route}; 204 after the commit. */
    private void accept(RoutingContext ctx, DevicePrincipal device, Route route, byte[] payload) {
        SocketAddress peer = ctx.request().remoteAddress();
        Origin origin = Origin.of(device, Origin.Path.DEVICE_HTTPS, peer == null ? null : peer.hostAddress(), peer == null ? 0 : peer.port(),
                "https-" + Secrets.randomHex(4), ctx.request().path());
        String topic = route == Route.EVENTS ? origin.namespace().events().name() : origin.namespace().telemetry().name();
        io.vertx.core.Context context = ctx.vertx().getOrCreateContext();
        gate.pass(origin, topic, 1, false, payload, new Outcome() {
            @Override
            public void admitted(Route admitted) {
                if (!ctx.response().ended()) {
                    ctx.response().setStatusCode(204).end();
                }
            }

            @Override
            public void refused(Admission.Refused refusal) {
                refuse(ctx, refusal.reason());
            }

            @Override
            public java.util.concurrent.Executor executor() {
                return task -> context.runOnContext(v -> task.run());
            }
        });
    }

    /** The HTTP status of a refusal reason (the problem's type and detail are in {@link #refuse}). */
    static int status(Admission.Reason reason) {
        return switch (reason) {
            case PAYLOAD_TOO_LARGE -> 413;
            case DEVICE_RATE, TENANT_QUOTA -> 429;
            case WRITER_SATURATED, NOT_STORED -> 503;
            case WILDCARD_TOPIC, FORBIDDEN_TOPIC -> 404;          // as for any object that is not the device's own
            case RETAINED, UNSUPPORTED_QOS, PAYLOAD_INVALID -> 400; // not expressible over this API
        };
    }

    private void refuse(RoutingContext ctx, Admission.Reason reason) {
        int status = status(reason);
        switch (reason) {
            case DEVICE_RATE -> {
                ctx.response().putHeader("Retry-After", "1");
                problem(ctx, status, "rate-exceeded", "too many messages; slow down");
            }
            case TENANT_QUOTA -> {
                ctx.response().putHeader("Retry-After", "1");
                problem(ctx, status, "rate-exceeded", "too many messages for this tenant; slow down");
            }
            case WRITER_SATURATED -> {
                ctx.response().putHeader("Retry-After", "1");
                problem(ctx, status, "overloaded", "the server is saturated; nothing was stored, send it again");
            }
            case NOT_STORED -> problem(ctx, status, "unavailable", "not stored; send it again");
            case PAYLOAD_TOO_LARGE -> problem(ctx, status, "payload-too-large", "payload exceeds the limit of " + gate.maxPayloadBytes() + " bytes");
            case WILDCARD_TOPIC, FORBIDDEN_TOPIC -> problem(ctx, status, "not-found", "no such resource");
            default -> problem(ctx, status, "malformed-request", "the message cannot be accepted");
        }
    }

    /** {@code Basic base64(deviceId@tenantId:token)} → {username, token}; null when absent or malformed. */
    static String[] basic(String header) {
        if (header == null || !header.regionMatches(true, 0, "Basic ", 0, 6) || header.length() > 512) {
            return null;
        }
        try {
            String decoded = new String(Base64.getDecoder().decode(header.substring(6).trim()), StandardCharsets.UTF_8);
            int colon = decoded.indexOf(':');
            return colon <= 0 ? null : new String[] {decoded.substring(0, colon), decoded.substring(colon + 1)};
        } catch (IllegalArgumentException e) {
            return null;
        }
    }

    private void record(RoutingContext ctx, String tenant, String type, String reason, String identity) {
        SocketAddress a = ctx.request().remoteAddress();
        securityEvents.record(new SecurityEvent(clock.nowMs(), tenant, type, reason, identity,
                a == null ? null : a.hostAddress(), a == null ? 0 : a.port(), "device-https", ctx.request().path()));
    }

    static void problem(RoutingContext ctx, int status, String slug, String detail) {
        if (ctx.response().ended()) {
            return;
        }
        ctx.response().setStatusCode(status).putHeader("Content-Type", "application/problem+json")
                .end(Buffer.buffer("{\"type\":\"urn:bulwark:problem:" + slug + "\",\"status\":" + status + ",\"detail\":\""
                        + detail.replace("\"", "'") + "\"}"));
    }

    public void close() {
        if (handshakeFailures != null) {
            handshakeFailures.close();
        }
        if (server != null) {
            try {
                server.close().toCompletionStage().toCompletableFuture().get(10, TimeUnit.SECONDS);
            } catch (Exception e) {
                LOG.warn("device HTTPS listener did not close cleanly: {}", e.toString());
            }
        }
    }

}
