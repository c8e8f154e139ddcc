package dev.bulwark.server.devicehttp;

import dev.bulwark.server.Services;
import dev.bulwark.server.crypto.Secrets;
import dev.bulwark.server.device.DeviceAuthenticator;
import dev.bulwark.server.device.DevicePrincipal;
import dev.bulwark.server.identity.AuthOutcome;
import dev.bulwark.server.monitor.SecurityEvent;
import dev.bulwark.server.monitor.Monitor;
import dev.bulwark.server.http.StrictHttp1;
import dev.bulwark.server.pki.EstService;
import dev.bulwark.server.pki.HandshakeFailures;
import dev.bulwark.server.pki.PeerCertificates;
import dev.bulwark.server.pki.TlsPolicy;
import dev.bulwark.server.telemetry.DeviceMessage;
import dev.bulwark.server.telemetry.GroupCommitWriter;
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
 * {@code Authorization: Basic base64(deviceId@tenantId:token)}), the same size and rate limits, and the
 * same durability: {@code 204} is sent only after the group commit.
 *
 * <ul>
 *   <li>EST enrollment under {@code /.well-known/est/} (see {@link EstEndpoint}).</li>
 *   <li>{@code POST /device/v1/telemetry}, {@code POST /device/v1/events}: the body is the payload.</li>
 * </ul>
 */
public final class DeviceHttpsServer {
    private static final Logger LOG = LoggerFactory.getLogger(DeviceHttpsServer.class);

    private final Vertx vertx;
    private final Services s;
    private final DeviceAuthenticator authenticator;
    private final GroupCommitWriter writer;
    private final EstEndpoint est;
    private final FirmwareEndpoint firmware;
    private HttpServer server;
    private HandshakeFailures handshakeFailures;

    public DeviceHttpsServer(Vertx vertx, Services s, DeviceAuthenticator authenticator, GroupCommitWriter writer, EstService est,
                             dev.bulwark.server.firmware.FirmwareService firmware, dev.bulwark.server.firmware.RolloutService rollouts) {
        this.vertx = vertx;
        this.s = s;
        this.authenticator = authenticator;
        this.writer = writer;
        this.est = new EstEndpoint(vertx, s, est);
        this.firmware = new FirmwareEndpoint(vertx, s, this, firmware, rollouts);
    }

    public int start() {
        HttpServerOptions options = TlsPolicy.deviceServer(new HttpServerOptions(), s.pki())
                .setHost(s.config().bindAddress()).setPort(s.config().deviceHttpsPort())
                .setMaxHeaderSize(8 * 1024).setIdleTimeout(60).setIdleTimeoutUnit(TimeUnit.SECONDS).setCompressionSupported(false);
        Router router = Router.router(vertx);
        router.route().handler(ctx -> {
            dev.bulwark.server.http.StrictHttp1.closeWhenBodyUnread(ctx);
            ctx.response().putHeader("Cache-Control", "no-store").putHeader("X-Content-Type-Options", "nosniff");
            ctx.next();
        });
        int payloadLimit = s.config().maxPayloadBytes();
        BodyHandler body = BodyHandler.create(false).setBodyLimit(payloadLimit).setHandleFileUploads(false);
        router.post("/device/v1/telemetry").handler(StrictHttp1.beforeBody(ctx -> authenticateFirst(ctx, payloadLimit, false))).handler(body)
                .handler(ctx -> ingest(ctx, "telemetry"));
        router.post("/device/v1/events").handler(StrictHttp1.beforeBody(ctx -> authenticateFirst(ctx, payloadLimit, false))).handler(body)
                .handler(ctx -> ingest(ctx, "events"));
        est.mount(router);
        firmware.mount(router);
        router.route().failureHandler(ctx -> {
            if (ctx.statusCode() == 413) {
                int limit = ctx.request().path().startsWith("/.well-known/est/") ? EstEndpoint.MAX_CSR_BYTES : s.config().maxPayloadBytes();
                record(ctx, null, "payload-too-large", "body exceeds the limit of " + limit + " bytes", null);
                problem(ctx, 413, "payload-too-large", "payload exceeds the limit of " + limit + " bytes");
            } else {
                problem(ctx, ctx.statusCode() > 0 && ctx.statusCode() < 500 ? ctx.statusCode() : 500, "request-failed", "request failed");
            }
        });
        router.errorHandler(404, ctx -> problem(ctx, 404, "not-found", "no such route"));
        router.errorHandler(405, ctx -> problem(ctx, 405, "method-not-allowed", "method not allowed on this route"));
        handshakeFailures = new HandshakeFailures(vertx, s.securityEvents(), s.clock(), "device-https", HandshakeFailures.DEFAULT_INTERVAL_MS);
        handshakeFailures.observe(options);
        try {
            HttpServer http = vertx.createHttpServer(options).requestHandler(router);
            StrictHttp1.install(http, 4096, 8 * 1024, (type, reason, peer, detail) -> s.securityEvents().record(new SecurityEvent(
                    s.clock().nowMs(), null, type, reason, null, peer == null ? null : peer.hostAddress(), peer == null ? 0 : peer.port(),
                    "device-https", detail)));
            server = http.listen()
                    .toCompletionStage().toCompletableFuture().get(30, TimeUnit.SECONDS);
        } catch (Exception e) {
            Throwable cause = e.getCause() == null ? e : e.getCause();
            throw new IllegalStateException("cannot bind the device HTTPS listener on port " + s.config().deviceHttpsPort() + ": " + cause.getMessage());
        }
        return server.actualPort();
    }

    public int port() {
        return server.actualPort();
    }

    private void ingest(RoutingContext ctx, String kind) {
        byte[] payload = ctx.body().buffer() == null ? new byte[0] : ctx.body().buffer().getBytes();
        accept(ctx, ctx.get(DEVICE), kind, payload);
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
        String credential = certificate != null ? certificate : basic == null ? null : s.monitor().fingerprint(basic[1]);
        if (s.monitor().banned(address, port, credential, "device-https", s.securityEvents()).isPresent()) {
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
                    long tarpit = s.monitor().attempt(ar.result(), basic == null ? null : basic[0], credential, address, port, "device-https");
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

    private void accept(RoutingContext ctx, DevicePrincipal device, String kind, byte[] payload) {
        if (!s.rateLimits().tryAcquire(device)) {
            record(ctx, device.tenant().value(), "rate-exceeded", "more than " + s.config().deviceMessagesPerSecond() + " messages per second",
                    device.describe());
            ctx.response().putHeader("Retry-After", "1");
            problem(ctx, 429, "rate-exceeded", "too many messages; slow down");
            return;
        }
        if (!s.quotas().message(device.tenant().value())) {
            record(ctx, device.tenant().value(), "tenant-rate-exceeded", "the tenant sends more than " + s.quotas().messagesPerSecond()
                    + " messages per second", device.describe());
            ctx.response().putHeader("Retry-After", "1");
            problem(ctx, 429, "rate-exceeded", "too many messages for this tenant; slow down");
            return;
        }
        SocketAddress peer = ctx.request().remoteAddress();
        DeviceMessage m = new DeviceMessage(device.tenant().value(), device.device().value(), kind, s.clock().nowMs(), 1, "https",
                peer == null ? "" : peer.hostAddress() + ":" + peer.port(), "https-" + Secrets.randomHex(4), payload);
        boolean queued = writer.submit(m, new GroupCommitWriter.Completion() {
            @Override
            public void committed() {
                ctx.vertx().runOnContext(v -> {
                    if (!ctx.response().ended()) {
                        ctx.response().setStatusCode(204).end();
                    }
                });
            }

            @Override
            public void failed(Throwable cause) {
                ctx.vertx().runOnContext(v -> problem(ctx, 503, "unavailable", "not stored; send it again"));
            }
        });
        if (!queued) {
            ctx.response().putHeader("Retry-After", "1");
            problem(ctx, 503, "overloaded", "the server is saturated; nothing was stored, send it again");
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
        s.securityEvents().record(new SecurityEvent(s.clock().nowMs(), tenant, type, reason, identity,
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
