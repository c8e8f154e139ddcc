package dev.bulwark.server.device;

import java.util.Map;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.atomic.AtomicInteger;

/**
 * Per-tenant limits, so that one tenant's fleet (or an attacker holding one tenant's credentials) cannot
 * starve the others: concurrent device connections, and messages per second over all the tenant's devices.
 */
public final class TenantQuotas {
    private final int maxConnections;
    private final int messagesPerSecond;
    private final Map<String, AtomicInteger> connections = new ConcurrentHashMap<>();
    private final Map<String, RateLimiter> rates = new ConcurrentHashMap<>();

    public TenantQuotas(int maxConnections, int messagesPerSecond) {
        this.maxConnections = maxConnections;
        this.messagesPerSecond = messagesPerSecond;
    }

    /** Takes a connection slot; false when the tenant is at its quota. */
    public boolean connect(String tenant) {
        AtomicInteger n = connections.computeIfAbsent(tenant, t -> new AtomicInteger());
        if (n.incrementAndGet() > maxConnections) {
            n.decrementAndGet();
            return false;
        }
        return true;
    }

    /** Takes a slot regardless of the quota: a device taking over its own session, whose old slot is about to return. */
    public void takeOver(String tenant) {
        connections.computeIfAbsent(tenant, t -> new AtomicInteger()).incrementAndGet();
    }

    public void disconnect(String tenant) {
        AtomicInteger n = connections.get(tenant);
        if (n != null) {
            n.decrementAndGet();
        }
    }

    public int connections(String tenant) {
        AtomicInteger n = connections.get(tenant);
        return n == null ? 0 : n.get();
    }

    /** One message of the tenant; false when the tenant exceeds its rate. */
    public boolean message(String tenant) {
        return rates.computeIfAbsent(tenant, t -> new RateLimiter(messagesPerSecond, messagesPerSecond)).tryAcquire();
    }

    public int maxConnections() {
        return maxConnections;
    }

    public int messagesPerSecond() {
        return messagesPerSecond;
    }
}
