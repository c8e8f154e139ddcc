package dev.bulwark.server.http;

import com.fasterxml.jackson.core.JsonProcessingException;
import com.fasterxml.jackson.databind.node.ObjectNode;
import dev.bulwark.server.audit.AuditEntry;
import dev.bulwark.server.audit.AuditLog;
import dev.bulwark.server.config.ServerConfig;
import dev.bulwark.server.core.Clock;
import dev.bulwark.server.core.Refusal;
import dev.bulwark.server.crypto.Secrets;
import dev.bulwark.server.identity.ApiTokens;
import dev.bulwark.server.identity.AuthOutcome;
import dev.bulwark.server.identity.OperatorPrincipal;
import dev.bulwark.server.monitor.ApiLogins;
import dev.bulwark.server.monitor.HandshakeFailures;
import dev.bulwark.server.monitor.SecurityEvent;
import dev.bulwark.server.monitor.SecurityEvents;
import dev.bulwark.server.pki.PlatformPki;
import dev.bulwark.server.pki.TlsPolicy;
import dev.bulwark.server.store.Database;
import io.vertx.core.Vertx;
import io.vertx.core.buffer.Buffer;
import io.vertx.core.http.HttpMethod;
import io.vertx.core.http.HttpServer;
import io.vertx.core.http.HttpServerOptions;
import io.vertx.core.net.SocketAddress;
import io.vertx.ext.web.Router;
import io.vertx.ext.web.RoutingContext;
import io.vertx.ext.web.handler.BodyHandler;
import java.util.Collections;
import java.util.List;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.TimeoutException;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * The REST API listener: HTTPS only (TLS 1.2/1.3, AEAD cipher suites with forward secrecy).
 *
 * <p>Every route goes through one dispatcher, in this order: bearer-token authentication (refusal: 401
 * and a security event), role check against the route's roles (refusal: 403, a security event and an
 * audit entry), then the handler on a worker thread. Refusals thrown by handlers become problem+json;
 * unexpected failures become a 500 with a reference number and nothing else. Trust boundary: handlers
 * may assume an authenticated principal holding one of the route's roles, and nothing more: tenant
 * scoping of objects is theirs to apply (through the tenant-keyed stores).
 */
public final class ApiServer {
    private static final Logger LOG = LoggerFactory.getLogger(ApiServer.class);

    private final Vertx vertx;
    private final ServerConfig config;
    private final PlatformPki pki;
    private final Database db;
    private final AuditLog audit;
    private final ApiTokens tokens;
    private final SecurityEvents events;
    private final ApiLogins logins;
    private final Clock clock;
    private final List<ApiRoute> routes;
    private final byte[] openApi;
    private HttpServer server;
    private HandshakeFailures handshakeFailures;
    private static final String PRINCIPAL = "bulwark.principal";
    private static final String BODY_LIMIT = "bulwark.bodyLimit";

    public ApiServer(Vertx vertx, ServerConfig config, PlatformPki pki, Database db, AuditLog audit, ApiTokens tokens,
                     SecurityEvents events, ApiLogins logins, Clock clock, List<ApiRoute> routes, String version) {
        this.vertx = vertx;
        this.config = config;
        this.pki = pki;
        this.db = db;
        this.audit = audit;
        this.tokens = tokens;
        this.events = events;
        this.logins = logins;
        this.clock = clock;
        this.routes = List.copyOf(routes);
        ObjectNode doc = OpenApi.document(this.routes, version);
        try {
            this.openApi = Json.MAPPER.writerWithDefaultPrettyPrinter().writeValueAsBytes(doc);
        } catch (JsonProcessingException e) {
            throw new IllegalStateException(e);
        }
    }

    public List<ApiRoute> routes() {
        return routes;
    }

    /** Binds the listener; returns the bound port. */
    public int start() {
        HttpServerOptions options = TlsPolicy.server(new HttpServerOptions(), pki)
                .setHost(config.bindAddress())
                .setPort(config.httpsPort())
                .setMaxHeaderSize(16 * 1024)
                .setMaxInitialLineLength(4096)
                .setIdleTimeout(120)
                .setIdleTimeoutUnit(TimeUnit.SECONDS)
                .setCompressionSupported(false);
        dev.bulwark.server.monitor.PeerAddress.proxyProtocol(options, config.proxyProtocol());

        Router router = Router.router(vertx);
        router.route().handler(ctx -> {
            StrictHttp1.closeWhenBodyUnread(ctx);
            ctx.response().putHeader("Strict-Transport-Security", "max-age=31536000")
                    .putHeader("Cache-Control", "no-store")
                    .putHeader("X-Content-Type-Options", "nosniff")
                    .putHeader("Content-Security-Policy", "default-src 'none'; frame-ancestors 'none'")
                    .putHeader("Referrer-Policy", "no-referrer");
            ctx.next();
        });
        router.get("/api/openapi.json").handler(StrictHttp1.beforeBody(ctx -> authenticateFirst(ctx, "/api/openapi.json", config.apiBodyLimit())))
                .handler(BodyHandler.create(false).setBodyLimit(config.apiBodyLimit()).setHandleFileUploads(false))
                .handler(ctx -> ctx.response().putHeader("Content-Type", "application/json").end(Buffer.buffer(openApi)));
        for (ApiRoute r : routes) {
            int limit = r.bodyLimit() > 0 ? r.bodyLimit() : config.apiBodyLimit();
            BodyHandler body = BodyHandler.create(false).setBodyLimit(limit).setHandleFileUploads(false);
            router.route(HttpMethod.valueOf(r.method()), r.vertxPath())
                    .handler(StrictHttp1.beforeBody(ctx -> authenticateFirst(ctx, r.operationId(), limit)))
                    .handler(body)
                    .blockingHandler(ctx -> dispatch(ctx, r), false);
        }
        router.route().failureHandler(this::failure);
        router.errorHandler(404, ctx -> Problems.send(ctx.response(), Refusal.Kind.NOT_FOUND, "no such route"));
        router.errorHandler(405, ctx -> Problems.send(ctx.response(), Refusal.Kind.METHOD_NOT_ALLOWED, "method not allowed on this route"));
        router.errorHandler(413, ctx -> Problems.send(ctx.response(), Refusal.Kind.TOO_LARGE,
                "request body exceeds the limit of " + bodyLimit(ctx) + " bytes"));

        handshakeFailures = new HandshakeFailures(vertx, events, clock, "api", HandshakeFailures.DEFAULT_INTERVAL_MS);
        handshakeFailures.observe(options);
        try {
            HttpServer http = vertx.createHttpServer(options).requestHandler(router);
            StrictHttp1.install(http, 4096, 16 * 1024, (type, reason, peer, detail) -> events.record(new SecurityEvent(clock.nowMs(), null,
                    type, reason, null, peer == null ? null : peer.hostAddress(), peer == null ? 0 : peer.port(), "api", detail)));
            server = http
                    .listen().toCompletionStage().toCompletableFuture().get(30, TimeUnit.SECONDS);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new IllegalStateException("interrupted while binding the HTTPS listener");
        } catch (ExecutionException | TimeoutException e) {
            throw new IllegalStateException("cannot bind the HTTPS listener on " + config.bindAddress() + ":" + config.httpsPort()
                    + ": " + (e.getCause() == null ? e : e.getCause()).getMessage());
        }
        return server.actualPort();
    }

    public int port() {
        return server.actualPort();
    }

    private void failure(RoutingContext ctx) {
        int status = ctx.statusCode();
        if (status == 413) {
            Problems.send(ctx.response(), Refusal.Kind.TOO_LARGE, "request body exceeds the limit of " + bodyLimit(ctx) + " bytes");
        } else if (status == 400) {
            Problems.send(ctx.response(), Refusal.Kind.MALFORMED, "malformed request");
        } else if (status == 404) {
            Problems.send(ctx.response(), Refusal.Kind.NOT_FOUND, "no such route");
        } else if (status == 405) {
            Problems.send(ctx.response(), Refusal.Kind.METHOD_NOT_ALLOWED, "method not allowed on this route");
        } else {
            String ref = Secrets.randomHex(6);
            Throwable t = ctx.failure();
            LOG.error("request failed [ref {}]: {} {}", ref, ctx.request().method(), ctx.request().path(), t);
            Problems.internal(ctx.response(), ref);
        }
    }

    /** Authenticates the call; on refusal answers 401, records a security event and returns null. */
    private OperatorPrincipal authenticate(RoutingContext ctx, String operation) {
        AuthOutcome<OperatorPrincipal> outcome = tokens.authenticate(ctx.request().getHeader("Authorization"));
        SocketAddress peer = ctx.request().remoteAddress();
        if (outcome instanceof AuthOutcome.Authenticated<OperatorPrincipal> a) {
            // the monitor: a banned source is refused, unless this operator logged in from it before (its usual address)
            String banned = logins.succeeded(a.principal().actor(), peer == null ? null : peer.hostAddress(), peer == null ? 0 : peer.port());
            if (banned == null) {
                return a.principal();
            }
            Problems.send(ctx.response(), Refusal.Kind.FORBIDDEN, banned);
            return null;
        }
        AuthOutcome.Refused<OperatorPrincipal> r = (AuthOutcome.Refused<OperatorPrincipal>) outcome;
        record(ctx, r.tenantId(), "api-authentication-failed", r.reason(), r.claimedIdentity(), operation);
        // the monitor: the detector, the tarpit (the 401 is delayed on a timer, no thread waits) and the bans (403)
        var verdict = logins.failed(r.reason(), r.claimedIdentity(), ctx.request().getHeader("Authorization"),
                peer == null ? null : peer.hostAddress(), peer == null ? 0 : peer.port());
        Runnable answer = () -> Problems.send(ctx.response(), verdict.banned() == null ? Refusal.Kind.UNAUTHENTICATED : Refusal.Kind.FORBIDDEN,
                verdict.banned() == null ? "a valid bearer token is required" : verdict.banned());
        if (verdict.delayMs() > 0) {
            ctx.vertx().setTimer(verdict.delayMs(), t -> {
                if (!ctx.response().ended() && !ctx.response().closed()) {
                    answer.run();
                }
            });
        } else {
            answer.run();
        }
        return null;
    }

    /**
     * The first step of every route, before any body is read: pauses the request, authenticates the bearer
     * token on a worker thread, and only then lets the body handler read the body, with the route's limit. A
     * refused caller gets 401 and the connection is closed without its body being read; a declared
     * {@code Content-Length} above the limit gets 413 the same way.
     */
    private void authenticateFirst(RoutingContext ctx, String operation, int limit) {
        ctx.put(BODY_LIMIT, limit);
        ctx.request().pause();
        vertx.executeBlocking(() -> authenticate(ctx, operation), false).onComplete(ar -> {
            if (ar.failed()) {
                ctx.fail(ar.cause());
                return;
            }
            if (ar.result() == null) {
                return; // refused and answered; the unread body closes the connection
            }
            ctx.put(PRINCIPAL, ar.result());
            long declared = StrictHttp1.declaredLength(ctx);
            if (declared > limit) {
                Problems.send(ctx.response(), Refusal.Kind.TOO_LARGE, "request body exceeds the limit of " + limit + " bytes");
                return;
            }
            ctx.next();
        });
    }

    private int bodyLimit(RoutingContext ctx) {
        Integer limit = ctx.get(BODY_LIMIT);
        return limit == null ? config.apiBodyLimit() : limit;
    }

    private void dispatch(RoutingContext ctx, ApiRoute route) {
        OperatorPrincipal principal = ctx.get(PRINCIPAL);
        if (principal == null) {
            throw new IllegalStateException("route " + route.operationId() + " reached without authentication");
        }
        String source = source(ctx);
        String tenant = principal.tenant() == null ? null : principal.tenant().value();
        if (Collections.disjoint(principal.roles(), route.roles())) {
            String reason = "role does not permit " + route.operationId();
            record(ctx, tenant, "api-authorization-denied", reason, principal.actor(), route.operationId());
            auditRefusal(route, principal, source, AuditEntry.DENIED, ctx.request().path(), reason);
            Problems.send(ctx.response(), Refusal.Kind.FORBIDDEN, "your roles do not permit this operation");
            return;
        }
        Call call = new Call(ctx, route, principal, db, audit, source);
        try {
            Response response = route.handler().handle(call);
            if (route.mutating() && !call.audited()) {
                db.tx(h -> audit.append(h, new AuditEntry(tenant, principal.actor(), route.auditAction(), call.target(),
                        source, AuditEntry.SUCCESS, null)));
            }
            send(ctx, response);
        } catch (Refusal f) {
            if (f.kind() == Refusal.Kind.NOT_FOUND || f.kind() == Refusal.Kind.FORBIDDEN) {
                record(ctx, tenant, f.kind() == Refusal.Kind.NOT_FOUND ? "api-object-not-found" : "api-authorization-denied",
                        f.reason(), principal.actor(), route.operationId() + " " + ctx.request().path());
            }
            auditRefusal(route, principal, source, f.kind() == Refusal.Kind.FORBIDDEN ? AuditEntry.DENIED : AuditEntry.REFUSED,
                    call.target().isEmpty() ? ctx.request().path() : call.target(), f.kind().slug + ": " + f.reason());
            Problems.send(ctx.response(), f.kind(), f.reason());
        } catch (Exception e) {
            String ref = Secrets.randomHex(6);
            LOG.error("{} failed [ref {}]", route.operationId(), ref, e);
            auditRefusal(route, principal, source, "failed", ctx.request().path(), "internal error ref " + ref);
            Problems.internal(ctx.response(), ref);
        }
    }

    private void auditRefusal(ApiRoute route, OperatorPrincipal p, String source, String outcome, String target, String detail) {
        if (!route.mutating() && !AuditEntry.DENIED.equals(outcome)) {
            return;
        }
        String action = route.mutating() ? route.auditAction() : route.operationId();
        try {
            db.tx(h -> audit.append(h, new AuditEntry(p.tenant() == null ? null : p.tenant().value(), p.actor(), action,
                    target, source, outcome, detail)));
        } catch (RuntimeException e) {
            LOG.error("cannot append audit entry for refused {}: {}", action, e.toString());
        }
    }

    private void send(RoutingContext ctx, Response r) throws JsonProcessingException {
        ctx.response().setStatusCode(r.status());
        if (r.body() == null) {
            ctx.response().end();
        } else if (r.body() instanceof Response.Streamed st) {
            StreamedBody.send(ctx.response(), r.status(), st);
        } else if (r.body() instanceof Response.Text t) {
            ctx.response().putHeader("Content-Type", t.contentType()).end(t.text());
        } else {
            ctx.response().putHeader("Content-Type", "application/json").end(Buffer.buffer(Json.MAPPER.writeValueAsBytes(r.body())));
        }
    }

    private void record(RoutingContext ctx, String tenant, String type, String reason, String identity, String detail) {
        SocketAddress a = ctx.request().remoteAddress();
        events.record(new SecurityEvent(clock.nowMs(), tenant, type, reason, identity,
                a == null ? null : a.hostAddress(), a == null ? 0 : a.port(), "api", detail));
    }

    static String source(RoutingContext ctx) {
        SocketAddress a = ctx.request().remoteAddress();
        return a == null ? "" : a.hostAddress() + ":" + a.port();
    }

    public void close() {
        if (handshakeFailures != null) {
            handshakeFailures.close();
        }
        if (server != null) {
            try {
                server.close().toCompletionStage().toCompletableFuture().get(10, TimeUnit.SECONDS);
            } catch (Exception e) {
                LOG.warn("HTTPS listener did not close cleanly: {}", e.toString());
            }
        }
    }
}
