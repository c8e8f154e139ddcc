package dev.bulwark.server.monitor;

import dev.bulwark.server.core.Clock;
import dev.bulwark.server.pki.TlsPolicy;
import io.netty.handler.ssl.DelegatingSslContext;
import io.netty.handler.ssl.NotSslRecordException;
import io.netty.handler.ssl.SslContext;
import io.netty.handler.ssl.SslHandler;
import io.netty.handler.ssl.SslHandshakeTimeoutException;
import io.vertx.core.Vertx;
import io.vertx.core.net.JdkSSLEngineOptions;
import io.vertx.core.net.NetServerOptions;
import io.vertx.core.net.OpenSSLEngineOptions;
import io.vertx.core.net.SSLEngineOptions;
import io.vertx.core.spi.tls.SslContextFactory;
import java.nio.channels.ClosedChannelException;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.Set;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.atomic.AtomicLong;
import javax.net.ssl.KeyManagerFactory;
import javax.net.ssl.SNIServerName;
import javax.net.ssl.SSLEngine;
import javax.net.ssl.SSLException;
import javax.net.ssl.TrustManagerFactory;

/**
 * Failed TLS handshakes of a listener as security events {@code tls-handshake-failed}, with the peer's
 * address and port and a reason ({@code protocol-version}, {@code no-shared-cipher}, {@code not-tls},
 * {@code certificate}, {@code handshake-timeout}, {@code closed-during-handshake}, {@code handshake-failed}).
 *
 * <p>How: {@link #observe} wraps the listener's TLS engine options so that every server {@link SslHandler}
 * Vert.x creates gets a listener on its handshake future. Vert.x creates server engines with the peer's
 * address and port (for session resumption), so a failure is attributed without reflection into Vert.x.
 *
 * <p>Not a flood: per source address and interval, the first failure is recorded at once with its reason;
 * further failures of that source in the same interval are counted and recorded as one summary event when
 * the interval ends (reason {@code repeated}, detail with the count and the last reason). At most
 * {@link #MAX_SOURCES} sources are tracked per interval; failures of further sources are summed into one
 * event without an address. Usable by every TLS listener (the MQTT listener records its failures on its own
 * today).
 */
public final class HandshakeFailures implements AutoCloseable {
    public static final long DEFAULT_INTERVAL_MS = 60_000;
    static final int MAX_SOURCES = 10_000;

    private final SecurityEvents events;
    private final Clock clock;
    private final String channel;
    private final long intervalMs;
    private final Vertx vertx;
    private final Map<String, Window> windows = new ConcurrentHashMap<>();
    private final AtomicLong untracked = new AtomicLong();
    private final long timer;
    private final int maxSources;

    private static final class Window {
        final AtomicLong more = new AtomicLong();
        volatile int lastPort;
        volatile String lastReason;
    }

    public HandshakeFailures(Vertx vertx, SecurityEvents events, Clock clock, String channel, long intervalMs) {
        this(vertx, events, clock, channel, intervalMs, MAX_SOURCES);
    }

    HandshakeFailures(Vertx vertx, SecurityEvents events, Clock clock, String channel, long intervalMs, int maxSources) {
        this.maxSources = maxSources;
        this.vertx = vertx;
        this.events = events;
        this.clock = clock;
        this.channel = channel;
        this.intervalMs = intervalMs;
        this.timer = vertx == null ? -1 : vertx.setPeriodic(intervalMs, t -> flush());
    }

    /** Wraps the TLS engine of {@code options} (already configured by {@link TlsPolicy}) so that failed handshakes are recorded. */
    public <T extends NetServerOptions> T observe(T options) {
        SSLEngineOptions engine = options.getSslEngineOptions();
        options.setSslEngineOptions(engine instanceof OpenSSLEngineOptions o ? new ObservedOpenSsl(o, this) : new ObservedJdk(
                engine instanceof JdkSSLEngineOptions j ? j : new JdkSSLEngineOptions(), this));
        return options;
    }

    /** A failed handshake of {@code address:port}. Thread-safe; never blocks. */
    public void failed(String address, int port, Throwable cause) {
        String reason = reason(cause);
        String key = address == null ? "" : address;
        Window w = windows.get(key);
        if (w == null) {
            if (windows.size() >= maxSources) {
                untracked.incrementAndGet();
                return;
            }
            Window fresh = new Window();
            w = windows.putIfAbsent(key, fresh);
            if (w == null) {
                events.record(new SecurityEvent(clock.nowMs(), null, "tls-handshake-failed", reason, null, address, port, channel,
                        detail(cause)));
                return;
            }
        }
        w.lastPort = port;
        w.lastReason = reason;
        w.more.incrementAndGet();
    }

    /** Ends the interval: one summary event per source that failed again, and one for untracked sources. */
    public void flush() {
        for (Map.Entry<String, Window> e : windows.entrySet()) {
            windows.remove(e.getKey());
            long more = e.getValue().more.get();
            if (more > 0) {
                events.record(new SecurityEvent(clock.nowMs(), null, "tls-handshake-failed", "repeated", null,
                        e.getKey().isEmpty() ? null : e.getKey(), e.getValue().lastPort, channel,
                        more + " more failed handshakes in " + intervalMs / 1000 + " s, last: " + e.getValue().lastReason));
            }
        }
        long n = untracked.getAndSet(0);
        if (n > 0) {
            events.record(new SecurityEvent(clock.nowMs(), null, "tls-handshake-failed", "repeated", null, null, 0, channel,
                    n + " failed handshakes in " + intervalMs / 1000 + " s from sources beyond the " + maxSources + " tracked"));
        }
    }

    /** The reason slug of a handshake failure, from the TLS layer's exception (JDK or BoringSSL wording). */
    static String reason(Throwable cause) {
        Throwable t = cause;
        StringBuilder all = new StringBuilder();
        while (t != null) {
            if (t instanceof NotSslRecordException) {
                return "not-tls";
            }
            if (t instanceof SslHandshakeTimeoutException) {
                return "handshake-timeout";
            }
            if (t instanceof ClosedChannelException) {
                return "closed-during-handshake";
            }
            all.append(' ').append(t.getMessage());
            t = t.getCause() == t ? null : t.getCause();
        }
        String m = all.toString().toLowerCase(Locale.ROOT);
        if (m.contains("protocol") && (m.contains("version") || m.contains("not enabled") || m.contains("disabled")
                || m.contains("unsupported_protocol") || m.contains("no appropriate protocol"))) {
            return "protocol-version";
        }
        if (m.contains("cipher")) {
            return "no-shared-cipher";
        }
        if (m.contains("http_request") || m.contains("wrong_version_number") || m.contains("plaintext")) {
            return "not-tls";
        }
        if (m.contains("certificate") || m.contains("cert_")) {
            return "certificate";
        }
        if (m.contains("closed") || m.contains("reset")) {
            return "closed-during-handshake";
        }
        return "handshake-failed";
    }

    private static String detail(Throwable cause) {
        if (cause instanceof NotSslRecordException) {
            return "the peer did not speak TLS"; // the exception's message is a hex dump of what it sent
        }
        Throwable root = cause;
        while (root.getCause() != null && root.getCause() != root) {
            root = root.getCause();
        }
        String m = String.valueOf(root.getMessage()).replaceAll("[^\\x20-\\x7e]", "?");
        return m.length() > 160 ? m.substring(0, 160) + "..." : m;
    }

    void watch(SslHandler handler) {
        handler.handshakeFuture().addListener(f -> {
            if (!f.isSuccess()) {
                if (handler instanceof Attributed a && a.channel != null
                        && PeerAddress.of(a.channel) instanceof java.net.InetSocketAddress peer && peer.getAddress() != null) {
                    failed(peer.getAddress().getHostAddress(), peer.getPort(), f.cause());
                    return;
                }
                SSLEngine engine = handler.engine();
                failed(engine.getPeerHost(), engine.getPeerPort(), f.cause());
            }
        });
    }

    /**
     * A server TLS handler that knows its channel, for the client's address behind a PROXY protocol load balancer
     * (Vert.x creates the engine with the socket's peer, the load balancer's address). Same engine, so the same
     * TLS (BoringSSL's mode included).
     */
    private static final class Attributed extends SslHandler {
        private volatile io.netty.channel.Channel channel;

        Attributed(SslHandler created, boolean startTls, java.util.concurrent.Executor executor) {
            super(created.engine(), startTls, executor);
        }

        @Override
        public void handlerAdded(io.netty.channel.ChannelHandlerContext ctx) throws Exception {
            channel = ctx.channel();
            super.handlerAdded(ctx);
        }
    }

    @Override
    public void close() {
        if (timer >= 0) {
            vertx.cancelTimer(timer);
        }
        flush();
    }

    private static SslContextFactory observed(SslContextFactory f, HandshakeFailures failures) {
        return new SslContextFactory() {
            @Override
            public SslContextFactory useAlpn(boolean useAlpn) {
                f.useAlpn(useAlpn);
                return this;
            }

            @Override
            public SslContextFactory forServer(io.netty.handler.ssl.ClientAuth clientAuth) {
                f.forServer(clientAuth);
                return this;
            }

            @Override
            public SslContextFactory forClient(SNIServerName serverName, String endpointIdentificationAlgorithm) {
                f.forClient(serverName, endpointIdentificationAlgorithm);
                return this;
            }

            @Override
            public SslContextFactory enabledProtocols(Set<String> protocols) {
                f.enabledProtocols(protocols);
                return this;
            }

            @Override
            public SslContextFactory keyMananagerFactory(KeyManagerFactory kmf) {
                f.keyMananagerFactory(kmf);
                return this;
            }

            @Override
            public SslContextFactory trustManagerFactory(TrustManagerFactory tmf) {
                f.trustManagerFactory(tmf);
                return this;
            }

            @Override
            public SslContextFactory enabledCipherSuites(Set<String> cipherSuites) {
                f.enabledCipherSuites(cipherSuites);
                return this;
            }

            @Override
            public SslContextFactory applicationProtocols(List<String> protocols) {
                f.applicationProtocols(protocols);
                return this;
            }

            @Override
            public SslContext create() throws SSLException {
                SslContext ctx = f.create();
                if (!ctx.isServer()) {
                    return ctx;
                }
                return new DelegatingSslContext(ctx) {
                    @Override
                    protected void initEngine(SSLEngine engine) {
                    }

                    @Override
                    protected SslHandler newHandler(io.netty.buffer.ByteBufAllocator alloc, String peerHost, int peerPort, boolean startTls,
                                                    java.util.concurrent.Executor executor) {
                        return attributed(super.newHandler(alloc, peerHost, peerPort, startTls, executor), startTls, executor, failures);
                    }

                    @Override
                    protected SslHandler newHandler(io.netty.buffer.ByteBufAllocator alloc, boolean startTls, java.util.concurrent.Executor executor) {
                        return attributed(super.newHandler(alloc, startTls, executor), startTls, executor, failures);
                    }

                    @Override
                    protected void initHandler(SslHandler handler) {
                        failures.watch(handler);
                    }
                };
            }
        };
    }

    /**
     * The handler Netty created (never added to a pipeline: its own watch never fires), replaced by one on the same
     * engine that learns its channel, watched instead.
     */
    private static SslHandler attributed(SslHandler created, boolean startTls, java.util.concurrent.Executor executor,
                                         HandshakeFailures failures) {
        SslHandler h = new Attributed(created, startTls, executor);
        failures.watch(h);
        return h;
    }

    /** BoringSSL engine options whose server handlers report failed handshakes. */
    static final class ObservedOpenSsl extends OpenSSLEngineOptions {
        private final HandshakeFailures failures;

        ObservedOpenSsl(OpenSSLEngineOptions base, HandshakeFailures failures) {
            super(base);
            this.failures = failures;
        }

        @Override
        public OpenSSLEngineOptions copy() {
            return new ObservedOpenSsl(this, failures);
        }

        @Override
        public SslContextFactory sslContextFactory() {
            return observed(super.sslContextFactory(), failures);
        }
    }

    /** JDK engine options whose server handlers report failed handshakes. */
    static final class ObservedJdk extends JdkSSLEngineOptions {
        private final HandshakeFailures failures;

        ObservedJdk(JdkSSLEngineOptions base, HandshakeFailures failures) {
            super(base);
            this.failures = failures;
        }

        @Override
        public JdkSSLEngineOptions copy() {
            return new ObservedJdk(this, failures);
        }

        @Override
        public SslContextFactory sslContextFactory() {
            return observed(super.sslContextFactory(), failures);
        }
    }
}
