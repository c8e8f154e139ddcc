package dev.bulwark.server.http;

import io.netty.channel.ChannelHandler;
import io.netty.channel.ChannelPipeline;
import io.netty.handler.codec.TooLongFrameException;
import io.netty.handler.codec.http.HttpHeaderNames;
import io.netty.handler.codec.http.HttpMessage;
import io.netty.handler.codec.http.HttpVersion;
import io.netty.handler.codec.http.TooLongHttpHeaderException;
import io.netty.handler.codec.http.TooLongHttpLineException;
import io.vertx.core.http.Http1ServerConfig;
import io.vertx.core.http.HttpServer;
import io.vertx.core.http.HttpServerRequest;
import io.vertx.core.http.impl.http1.VertxHttpRequestDecoder;
import io.vertx.core.net.SocketAddress;
import io.vertx.core.net.impl.ConnectionBase;
import io.vertx.ext.web.RoutingContext;
import java.util.ArrayList;
import java.util.List;
import java.util.Locale;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Unambiguous HTTP/1.1 framing for every Bulwark HTTPS listener (operator API and device HTTPS).
 *
 * <p>A request whose body length could be read two ways is refused before any of its body is read: both
 * {@code Content-Length} and {@code Transfer-Encoding}, a transfer coding other than exactly {@code chunked}
 * ({@code xchunked}, {@code chunked, gzip}, {@code identity}, ...), {@code Transfer-Encoding} on HTTP/1.0, or
 * several {@code Content-Length} values. Such a request is answered 400 with the reason, its connection is
 * closed, and nothing after it on that connection is parsed (a smuggled second request never runs). The
 * refusal is a security event {@code http-framing-refused} with source address and port.
 *
 * <p>Where: Netty's {@code HttpObjectDecoder} would otherwise resolve the ambiguity silently (it drops
 * {@code Content-Length} when {@code Transfer-Encoding: chunked} is present, and takes an unknown coding for
 * "no body", leaving the body to be parsed as the next request). So the check sits in the decoder itself:
 * {@link StrictDecoder} extends Vert.x's request decoder and inspects the complete header block in
 * {@code isContentAlwaysEmpty}, which Netty calls after the headers are parsed and before it decides how the
 * body is framed; an exception there turns the request into a failed decoding (Netty then discards the rest
 * of the connection's input) and Vert.x hands it to the server's invalid-request handler. The decoder is put
 * in place by the connection handler, which Vert.x calls synchronously while it builds the pipeline, before
 * any request byte is decoded. If a Vert.x upgrade renames the decoder, every connection is closed and
 * logged as an error rather than served without the check ({@code HttpFramingTest} fails too).
 */
public final class StrictHttp1 {
    private static final Logger LOG = LoggerFactory.getLogger(StrictHttp1.class);
    private static final String DECODER = "httpDecoder";

    /** Records a refused request: event type, reason, peer. */
    @FunctionalInterface
    public interface Recorder {
        void refused(String type, String reason, SocketAddress peer, String detail);
    }

    private StrictHttp1() {
    }

    /** A framing refusal, with a stable reason for the security event. */
    static final class FramingRefused extends IllegalArgumentException {
        final String reason;

        FramingRefused(String reason) {
            super(reason);
            this.reason = reason;
        }
    }

    /**
     * Installs the strict decoder and the invalid-request answer on {@code server} (before it listens).
     * {@code maxInitialLine} and {@code maxHeaderSize} are the server's own limits.
     */
    public static void install(HttpServer server, int maxInitialLine, int maxHeaderSize, Recorder recorder) {
        Http1ServerConfig config = new Http1ServerConfig().setMaxInitialLineLength(maxInitialLine).setMaxHeaderSize(maxHeaderSize);
        server.connectionHandler(conn -> {
            if (!(conn instanceof ConnectionBase base)) {
                return; // not HTTP/1.x over TCP (the listeners offer nothing else)
            }
            ChannelPipeline pipeline = base.channelHandlerContext().pipeline();
            ChannelHandler current = pipeline.get(DECODER);
            if (current instanceof StrictDecoder) {
                return;
            }
            if (!(current instanceof VertxHttpRequestDecoder)) {
                LOG.error("HTTP framing checks cannot be installed (no '{}' in the pipeline); closing the connection", DECODER);
                conn.close();
                return;
            }
            pipeline.replace(DECODER, DECODER, new StrictDecoder(config));
        });
        server.invalidRequestHandler(request -> refuse(request, recorder));
    }

    private static void refuse(HttpServerRequest request, Recorder recorder) {
        Throwable cause = request.decoderResult().cause();
        int status = 400;
        String type;
        String reason;
        if (cause instanceof FramingRefused f) {
            type = "http-framing-refused";
            reason = f.reason;
        } else if (cause instanceof IllegalArgumentException && cause.getMessage() != null
                && (cause.getMessage().contains("Content-Length") || cause.getMessage().contains("Transfer-Encoding"))) {
            type = "http-framing-refused";
            reason = clip(cause.getMessage());
        } else {
            type = "http-request-malformed";
            if (cause instanceof TooLongHttpLineException) {
                status = 414;
                reason = "request line too long";
            } else if (cause instanceof TooLongHttpHeaderException) {
                status = 431;
                reason = "request headers too large";
            } else if (cause instanceof TooLongFrameException) {
                status = 413;
                reason = "request part too large";
            } else {
                reason = cause == null ? "malformed request" : clip(cause.getClass().getSimpleName() + ": " + cause.getMessage());
            }
        }
        recorder.refused(type, reason, request.remoteAddress(), request.uri() == null ? null : clip(request.uri()));
        String slug = status == 400 ? "malformed-request" : status == 414 ? "uri-too-long" : status == 431 ? "headers-too-large" : "payload-too-large";
        request.response().setStatusCode(status).putHeader("Content-Type", "application/problem+json").putHeader("Connection", "close")
                .end("{\"type\":\"urn:bulwark:problem:" + slug + "\",\"status\":" + status + ",\"detail\":\"" + reason.replace("\"", "'")
                        .replace("\\", "/") + "\"}")
                .onComplete(v -> request.connection().close());
    }

    static String clip(String s) {
        if (s == null) {
            return "";
        }
        String printable = s.replaceAll("[^\\x20-\\x7e]", "?");
        return printable.length() > 120 ? printable.substring(0, 120) + "..." : printable;
    }

    /** Why the framing of {@code message} is ambiguous, or null when it is not. */
    static String ambiguity(HttpMessage message) {
        List<String> te = message.headers().getAll(HttpHeaderNames.TRANSFER_ENCODING);
        List<String> cl = message.headers().getAll(HttpHeaderNames.CONTENT_LENGTH);
        if (te.isEmpty()) {
            if (cl.size() > 1) {
                return "more than one Content-Length header";
            }
            if (cl.size() == 1 && (cl.get(0).contains(",") || !cl.get(0).trim().matches("[0-9]{1,18}"))) {
                return "Content-Length is not one decimal number";
            }
            return null;
        }
        if (!cl.isEmpty()) {
            return "both Content-Length and Transfer-Encoding";
        }
        if (message.protocolVersion() != HttpVersion.HTTP_1_1) {
            return "Transfer-Encoding on " + message.protocolVersion().text();
        }
        List<String> codings = new ArrayList<>();
        for (String value : te) {
            for (String c : value.split(",", -1)) {
                codings.add(c.trim().toLowerCase(Locale.ROOT));
            }
        }
        if (codings.size() != 1 || !codings.get(0).equals("chunked")) {
            return "unsupported transfer coding '" + clip(String.join(", ", codings)) + "' (only 'chunked' is accepted)";
        }
        return null;
    }

    /** The request's {@code Content-Length}, or -1 when it has none (chunked bodies are limited while they are read). */
    public static long declaredLength(RoutingContext ctx) {
        String cl = ctx.request().getHeader("Content-Length");
        if (cl == null) {
            return -1;
        }
        try {
            return Long.parseLong(cl.trim());
        } catch (NumberFormatException e) {
            return Long.MAX_VALUE; // the framing check refuses it before; never read an unparseable length
        }
    }

    /**
     * A response sent while the request's body is still unread (a refusal before the body handler) says
     * {@code Connection: close} and closes the connection once written: the body is never read, and its bytes
     * can never be taken for a next request.
     */
    public static void closeWhenBodyUnread(RoutingContext ctx) {
        ctx.addHeadersEndHandler(v -> {
            if (!ctx.request().isEnded() && hasBody(ctx)) {
                ctx.response().putHeader("Connection", "close");
            }
        });
        ctx.addEndHandler(v -> {
            if (!ctx.request().isEnded()) {
                if (hasBody(ctx)) {
                    lingerThenClose(ctx);
                } else {
                    ctx.request().resume(); // only the end of a bodiless request is pending: let the connection go on
                }
            }
        });
    }

    /**
     * Closes the connection of a refused request whose body is still arriving, after a bounded linger: the
     * body's bytes are read and dropped (never parsed) for at most {@link #LINGER_BYTES} bytes and
     * {@link #LINGER_MS} milliseconds, so the client, still writing, gets to read the refusal instead of a
     * reset (closing a socket with unread input sends a TCP RST, which discards the response in flight).
     */
    static void lingerThenClose(RoutingContext ctx) {
        HttpServerRequest request = ctx.request();
        io.vertx.core.http.HttpConnection connection = request.connection();
        long[] seen = {0};
        Runnable close = () -> connection.close();
        long timer = ctx.vertx().setTimer(LINGER_MS, id -> close.run());
        request.handler(chunk -> {
            seen[0] += chunk.length();
            if (seen[0] > LINGER_BYTES) {
                ctx.vertx().cancelTimer(timer);
                close.run();
            }
        });
        request.exceptionHandler(e -> {
            ctx.vertx().cancelTimer(timer);
            close.run();
        });
        request.endHandler(end -> {
            ctx.vertx().cancelTimer(timer);
            close.run();
        });
        request.resume();
    }

    /** Most bytes of a refused body read and dropped before its connection is closed. */
    static final long LINGER_BYTES = 1024 * 1024;
    /** Longest wait for a refused body before its connection is closed. */
    static final long LINGER_MS = 2000;

    /** Whether the request announces a body (a non-zero length, or a transfer coding). */
    static boolean hasBody(RoutingContext ctx) {
        return declaredLength(ctx) > 0 || ctx.request().headers().contains("Transfer-Encoding");
    }

    /**
     * {@code step} as a route handler that runs before the route's body handler. Vert.x Web orders a route's
     * handlers by kind (security policy, body, authentication, ..., user) and refuses a plain handler in front
     * of a body handler; checks that must happen before any body is read are security policy in its terms.
     */
    public static io.vertx.ext.web.handler.SecurityPolicyHandler beforeBody(io.vertx.core.Handler<RoutingContext> step) {
        return step::handle;
    }

    /** Vert.x's request decoder, refusing ambiguous framing once the header block is complete. */
    static final class StrictDecoder extends VertxHttpRequestDecoder {
        StrictDecoder(Http1ServerConfig config) {
            super(config);
        }

        @Override
        protected boolean isContentAlwaysEmpty(HttpMessage msg) {
            if (msg != null) {
                String why = ambiguity(msg);
                if (why != null) {
                    throw new FramingRefused(why);
                }
            }
            return super.isContentAlwaysEmpty(msg);
        }
    }
}
