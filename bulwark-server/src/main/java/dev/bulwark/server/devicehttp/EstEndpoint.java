package dev.bulwark.server.devicehttp;

import dev.bulwark.server.core.Refusal;
import dev.bulwark.server.device.EstService;
import dev.bulwark.server.monitor.Monitor;
import dev.bulwark.server.monitor.SecurityEvent;
import dev.bulwark.server.pki.PeerCertificates;
import io.vertx.core.Vertx;
import io.vertx.core.buffer.Buffer;
import io.vertx.core.net.SocketAddress;
import io.vertx.ext.web.Router;
import io.vertx.ext.web.RoutingContext;
import io.vertx.ext.web.handler.BodyHandler;
import java.io.IOException;
import java.security.cert.CertificateEncodingException;
import java.security.cert.X509Certificate;
import java.util.Base64;
import java.util.List;
import java.util.function.Supplier;
import org.bouncycastle.cert.jcajce.JcaCertStore;
import org.bouncycastle.cms.CMSAbsentContent;
import org.bouncycastle.cms.CMSException;
import org.bouncycastle.cms.CMSSignedDataGenerator;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * EST (RFC 7030) over the device HTTPS listener:
 *
 * <ul>
 *   <li>{@code GET /.well-known/est/cacerts}: the platform CA, PKCS#7 certs-only, base64. Public by design
 *       (RFC 7030 §4.1.1): it is the trust anchor devices verify the server with.</li>
 *   <li>{@code POST /.well-known/est/simpleenroll}: body {@code application/pkcs10} (base64 DER). Authorized by an
 *       enrollment token ({@code Authorization: Bearer bwe.…}, or HTTP Basic with the token as password) or by a
 *       factory certificate in the TLS handshake.</li>
 *   <li>{@code POST /.well-known/est/simplereenroll}: as above, authorized by the current device certificate.</li>
 * </ul>
 *
 * <p>Success is {@code 200} with {@code application/pkcs7-mime; smime-type=certs-only} holding the new
 * certificate. Refusals are problem+json: 401 for credentials (with {@code WWW-Authenticate}), 400 for a
 * request that cannot be accepted, 415 for a wrong media type; each is recorded as a security event.
 */
final class EstEndpoint {
    private static final Logger LOG = LoggerFactory.getLogger(EstEndpoint.class);
    static final int MAX_CSR_BYTES = 16 * 1024;
    private static final String PKCS7 = "application/pkcs7-mime; smime-type=certs-only";

    private final Vertx vertx;
    private final dev.bulwark.server.core.Clock clock;
    private final dev.bulwark.server.pki.PlatformPki pki;
    private final dev.bulwark.server.monitor.SecurityEvents securityEvents;
    private final Monitor monitor;
    private final EstService est;

    EstEndpoint(Vertx vertx, dev.bulwark.server.core.Clock clock, dev.bulwark.server.pki.PlatformPki pki,
                dev.bulwark.server.monitor.SecurityEvents securityEvents, Monitor monitor, EstService est) {
        this.vertx = vertx;
        this.clock = clock;
        this.pki = pki;
        this.securityEvents = securityEvents;
        this.monitor = monitor;
        this.est = est;
    }

    void mount(Router router) {
        BodyHandler body = BodyHandler.create(false).setBodyLimit(MAX_CSR_BYTES).setHandleFileUploads(false);
        router.get("/.well-known/est/cacerts").handler(ctx -> certsOnly(ctx, pki.caCertificate()));
        router.post("/.well-known/est/simpleenroll").handler(dev.bulwark.server.http.StrictHttp1.beforeBody(ctx -> beforeBody(ctx, false))).handler(body).handler(ctx -> enroll(ctx, false));
        router.post("/.well-known/est/simplereenroll").handler(dev.bulwark.server.http.StrictHttp1.beforeBody(ctx -> beforeBody(ctx, true))).handler(body).handler(ctx -> enroll(ctx, true));
    }

    /**
     * What is checked before the body is read (the request stays paused meanwhile): the media type, a ban of
     * the source, that there are credentials at all (an enrollment token, or a certificate in the handshake),
     * and a declared length within {@link #MAX_CSR_BYTES}. A refusal here closes the connection with the body
     * unread. The token itself is checked with the CSR, in one transaction, as it is consumed.
     */
    private void beforeBody(RoutingContext ctx, boolean renewal) {
        ctx.request().pause();
        String op = renewal ? "simplereenroll" : "simpleenroll";
        String type = ctx.request().getHeader("Content-Type");
        if (type == null || !type.toLowerCase(java.util.Locale.ROOT).startsWith("application/pkcs10")) {
            problem(ctx, 415, "unsupported-media-type", "EST " + op + " takes application/pkcs10 (a base64-encoded DER PKCS#10 request)");
            return;
        }
        X509Certificate[] chain = PeerCertificates.of(ctx.request().sslSession());
        String token = enrollmentToken(ctx.request().getHeader("Authorization"));
        SocketAddress peer = ctx.request().remoteAddress();
        String address = peer == null ? null : peer.hostAddress();
        int port = peer == null ? 0 : peer.port();
        String credential = renewal || token == null ? Monitor.fingerprint(chain) : monitor.fingerprint(token);
        if (monitor.banned(address, port, credential, "est", securityEvents).isPresent()) {
            problem(ctx, 403, "source-banned", "this source address is temporarily banned");
            return;
        }
        if (renewal && chain == null) {
            refuseCredentials(ctx, op, new Failure("no-client-certificate", null, null), credential);
            return;
        }
        if (!renewal && token == null && chain == null) {
            refuseCredentials(ctx, op, new Failure("no-credentials", null, null), credential);
            return;
        }
        long declared = dev.bulwark.server.http.StrictHttp1.declaredLength(ctx);
        if (declared > MAX_CSR_BYTES) {
            record(ctx, null, "payload-too-large", "declared body of " + declared + " bytes exceeds the limit of " + MAX_CSR_BYTES + " bytes",
                    null);
            problem(ctx, 413, "payload-too-large", "payload exceeds the limit of " + MAX_CSR_BYTES + " bytes");
            return;
        }
        ctx.next();
    }

    private void enroll(RoutingContext ctx, boolean renewal) {
        String op = renewal ? "simplereenroll" : "simpleenroll";
        byte[] der;
        try {
            der = Base64.getMimeDecoder().decode(ctx.body().buffer() == null ? new byte[0] : ctx.body().buffer().getBytes());
        } catch (IllegalArgumentException e) {
            record(ctx, null, "est-request-refused", "the body is not base64", null);
            problem(ctx, 400, "malformed-request", "the body must be the base64 encoding of a DER PKCS#10 request");
            return;
        }
        X509Certificate[] chain = PeerCertificates.of(ctx.request().sslSession());
        String token = enrollmentToken(ctx.request().getHeader("Authorization"));
        String source = source(ctx);
        String credential = renewal || token == null ? Monitor.fingerprint(chain) : monitor.fingerprint(token);
        Supplier<EstService.Enrolled> work;
        if (renewal) {
            work = () -> est.reenroll(chain, der, source);
        } else if (token != null) {
            work = () -> est.enrollWithToken(token, der, source);
        } else {
            work = () -> est.enrollWithFactoryCertificate(chain, der, source);
        }
        vertx.executeBlocking(work::get, false).onComplete(ar -> {
            if (ar.succeeded()) {
                LOG.info("EST {}: issued certificate {} to {}", op, ar.result().serial(), ar.result().device().describe());
                certsOnly(ctx, ar.result().certificate());
            } else if (ar.cause() instanceof EstService.Unauthenticated u) {
                refuseCredentials(ctx, op, new Failure(u.reason(), u.identity(), u.tenantId()), credential);
            } else if (ar.cause() instanceof Refusal r) {
                record(ctx, null, "est-request-refused", r.reason(), null);
                problem(ctx, 400, r.kind().slug, r.reason());
            } else {
                LOG.error("EST {} failed unexpectedly", op, ar.cause());
                problem(ctx, 503, "unavailable", "try again later");
            }
        });
    }

    private record Failure(String reason, String identity, String tenantId) {
    }

    private void refuseCredentials(RoutingContext ctx, String op, Failure r, String credential) {
        record(ctx, r.tenantId(), "est-authentication-failed", r.reason(), r.identity());
        SocketAddress peer = ctx.request().remoteAddress();
        long tarpit = monitor.failed(r.tenantId(), Monitor.identityKey(r.identity(), null), credential,
                peer == null ? null : peer.hostAddress(), peer == null ? 0 : peer.port(), "est", r.reason());
        Runnable refuse = () -> {
            ctx.response().putHeader("WWW-Authenticate", "Bearer realm=\"bulwark-est\"");
            problem(ctx, 401, "unauthenticated", "EST " + op + " refused: " + r.reason());
        };
        if (tarpit > 0) {
            vertx.setTimer(tarpit, t -> refuse.run());
        } else {
            refuse.run();
        }
    }

    /** The enrollment token from {@code Bearer <token>} or {@code Basic base64(anything:<token>)}; null when absent. */
    static String enrollmentToken(String header) {
        if (header == null || header.length() > 512) {
            return null;
        }
        if (header.regionMatches(true, 0, "Bearer ", 0, 7)) {
            return header.substring(7).trim();
        }
        String[] basic = DeviceHttpsServer.basic(header);
        return basic == null ? null : basic[1];
    }

    private static void certsOnly(RoutingContext ctx, X509Certificate cert) {
        try {
            CMSSignedDataGenerator gen = new CMSSignedDataGenerator();
            gen.addCertificates(new JcaCertStore(List.of(cert)));
            byte[] der = gen.generate(new CMSAbsentContent()).getEncoded();
            ctx.response().setStatusCode(200).putHeader("Content-Type", PKCS7).putHeader("Content-Transfer-Encoding", "base64")
                    .end(Buffer.buffer(Base64.getMimeEncoder(64, new byte[] {13, 10}).encodeToString(der) + "\r\n"));
        } catch (CertificateEncodingException | CMSException | IOException e) {
            LOG.error("cannot encode a PKCS#7 certs-only response", e);
            problem(ctx, 500, "internal", "the certificate could not be encoded");
        }
    }

    private static String source(RoutingContext ctx) {
        SocketAddress a = ctx.request().remoteAddress();
        return a == null ? "" : a.hostAddress() + ":" + a.port();
    }

    private void record(RoutingContext ctx, String tenant, String type, String reason, String identity) {
        SocketAddress a = ctx.request().remoteAddress();
        securityEvents.record(new SecurityEvent(clock.nowMs(), tenant, type, reason, identity,
                a == null ? null : a.hostAddress(), a == null ? 0 : a.port(), "est", ctx.request().path()));
    }

    private static void problem(RoutingContext ctx, int status, String slug, String detail) {
        DeviceHttpsServer.problem(ctx, status, slug, detail);
    }
}
