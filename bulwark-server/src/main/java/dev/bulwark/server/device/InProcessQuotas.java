package dev.bulwark.server.device;

import java.util.Map;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.atomic.AtomicInteger;

/** Tenant quotas counted in this node's memory: a standalone node's {@link TenantQuotas}. */
public final class InProcessQuotas implements TenantQuotas {
    private final int maxConnections;
    private final int messagesPerSecond;
    private final Map<String, AtomicInteger> connections = new ConcurrentHashMap<>();
    private final Map<String, RateLimiter> rates = new ConcurrentHashMap<>();

    public InProcessQuotas(int maxConnections, int messagesPerSecond) {
        this.maxConnections = maxConnections;
        this.messagesPerSecond = messagesPerSecond;
    }

    @Override
    public boolean connect(String tenant) {
        AtomicInteger n = connections.computeIfAbsent(tenant, t -> new AtomicInteger());
        if (n.incrementAndGet() > maxConnections) {
            n.decrementAndGet();
            return false;
        }
        return true;
    }

    @Override
    public void takeOver(String tenant) {
        connections.computeIfAbsent(tenant, t -> new AtomicInteger()).incrementAndGet();
    }

    @Override
    public void disconnect(String tenant) {
        AtomicInteger n = connections.get(tenant);
        if (n != null) {
            n.decrementAndGet();
        }
    }

    @Override
    public int connections(String tenant) {
        AtomicInteger n = connections.get(tenant);
        return n == null ? 0 : n.get();
    }

    @Override
    public boolean message(String tenant) {
        return rates.computeIfAbsent(tenant, t -> new RateLimiter(messagesPerSecond, messagesPerSecond)).tryAcquire();
    }

    @Override
    public int maxConnections() {
        return maxConnections;
    }

    @Override
    public int messagesPerSecond() {
        return messagesPerSecond;
    }
}
