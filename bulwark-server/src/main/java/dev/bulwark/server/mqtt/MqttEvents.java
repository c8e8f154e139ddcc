package dev.bulwark.server.mqtt;

import dev.bulwark.server.core.Clock;
import dev.bulwark.server.device.DevicePrincipal;
import dev.bulwark.server.monitor.Monitor;
import dev.bulwark.server.monitor.SecurityEvent;
import dev.bulwark.server.monitor.SecurityEvents;
import io.vertx.core.net.SocketAddress;

/**
 * The security events of the MQTT listener, with the peer's address and port and channel {@code mqtt}: the
 * connection-level refusals recorded one by one, and what {@link MqttGuard} reports, throttled per source
 * ({@link RecordThrottle}) because an outsider can repeat it at will. The refusals of device messages are
 * recorded by the ingress gate.
 */
final class MqttEvents implements MqttGuard.Sink {
    private final Clock clock;
    private final SecurityEvents events;
    private final Monitor monitor;
    private final RecordThrottle throttle;
    private final int maxMessageBytes;
    /** How long a connection may stay without a complete CONNECT (after its TLS handshake). */
    private volatile long connectTimeoutMs = 10_000;

    MqttEvents(Clock clock, SecurityEvents events, Monitor monitor, int maxMessageBytes) {
        this.clock = clock;
        this.events = events;
        this.monitor = monitor;
        this.maxMessageBytes = maxMessageBytes;
        this.throttle = new RecordThrottle(clock, events::record);
    }

    void record(SocketAddress peer, String tenant, String type, String reason, String identity) {
        record(peer == null ? null : peer.hostAddress(), peer == null ? 0 : peer.port(), tenant, type, reason, identity);
    }

    void record(String address, int port, String tenant, String type, String reason, String identity) {
        events.record(new SecurityEvent(clock.nowMs(), tenant, type, reason, identity, address, port, "mqtt", null));
    }

    SecurityEvents securityEvents() {
        return events;
    }

    /** Records the counts the throttle still holds (called periodically and at close). */
    void flush() {
        throttle.flush();
    }

    void connectTimeout(long ms) {
        this.connectTimeoutMs = ms;
    }

    @Override
    public void refused(java.net.SocketAddress peer, DevicePrincipal device, String type, String reason) {
        java.net.InetSocketAddress a = peer instanceof java.net.InetSocketAddress i ? i : null;
        throttle.record(new SecurityEvent(clock.nowMs(), device == null ? null : device.tenant().value(), type, reason,
                device == null ? null : device.describe(), a == null ? null : a.getAddress().getHostAddress(),
                a == null ? 0 : a.getPort(), "mqtt", null));
    }

    @Override
    public void silent(java.net.SocketAddress peer, boolean sentBytes, long timeoutMs) {
        java.net.InetSocketAddress a = peer instanceof java.net.InetSocketAddress i ? i : null;
        String address = a == null ? null : a.getAddress().getHostAddress();
        int port = a == null ? 0 : a.getPort();
        // a failure like a failing credential: the same tarpit, and the same detector behind it
        monitor.failed(null, "anonymous", null, address, port, "mqtt", "connect-timeout");
        throttle.record(new SecurityEvent(clock.nowMs(), null, "mqtt-connect-timeout", "no CONNECT within "
                + (timeoutMs >= 1000 ? timeoutMs / 1000 + " s" : timeoutMs + " ms")
                + (sentBytes ? " (only an incomplete packet)" : " (nothing sent)"), null, address, port, "mqtt", null));
    }

    @Override
    public long connectTimeoutMs() {
        return connectTimeoutMs;
    }

    @Override
    public int maxMessageBytes() {
        return maxMessageBytes;
    }
}
