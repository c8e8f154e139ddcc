package dev.bulwark.server.monitor;

import io.netty.channel.Channel;
import io.vertx.core.net.impl.ConnectionBase;
import java.net.InetSocketAddress;
import java.net.SocketAddress;

/**
 * The client's address of a connection as Vert.x reports it: behind a load balancer speaking the PROXY protocol
 * ({@code --proxy-protocol}) the source address of the PROXY header, else the socket's peer. Code that holds a
 * Netty channel (rather than a Vert.x connection or request, whose {@code remoteAddress()} already is this) takes
 * the address here, so that security events, bans, the tarpit and detection never see the load balancer instead.
 */
public final class PeerAddress {
    private PeerAddress() {
    }

    /** Seconds a connection may take to send its PROXY header before it is closed. */
    public static final int PROXY_HEADER_TIMEOUT_S = 10;

    /**
     * Makes the listener of {@code options} expect a PROXY protocol header (v1 or v2) on every connection when
     * {@code enabled}: Vert.x then reports the header's source as the connection's remote address, and closes a
     * connection that sends none (or something else) within {@link #PROXY_HEADER_TIMEOUT_S}.
     */
    public static <T extends io.vertx.core.net.NetServerOptions> T proxyProtocol(T options, boolean enabled) {
        if (enabled) {
            options.setUseProxyProtocol(true).setProxyProtocolTimeout(PROXY_HEADER_TIMEOUT_S)
                    .setProxyProtocolTimeoutUnit(java.util.concurrent.TimeUnit.SECONDS);
        }
        return options;
    }

    /** The client's address of {@code channel}, or null when it has none. */
    public static SocketAddress of(Channel channel) {
        if (channel == null) {
            return null;
        }
        io.vertx.core.net.SocketAddress proxied = channel.attr(ConnectionBase.REMOTE_ADDRESS_OVERRIDE).get();
        if (proxied != null && proxied.hostAddress() != null) {
            // an address literal from the PROXY header (validated by Netty's decoder): no name lookup
            return new InetSocketAddress(proxied.hostAddress(), proxied.port());
        }
        return channel.remoteAddress();
    }
}
