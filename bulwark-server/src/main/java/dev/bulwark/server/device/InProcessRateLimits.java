package dev.bulwark.server.device;

import java.util.Map;
import java.util.concurrent.ConcurrentHashMap;

/** Per-device token buckets in this node's memory ({@code perSecond} sustained, twice that at once). */
public final class InProcessRateLimits implements DeviceRateLimits {
    private final double perSecond;
    private final Map<String, RateLimiter> buckets = new ConcurrentHashMap<>();

    public InProcessRateLimits(double perSecond) {
        this.perSecond = perSecond;
    }

    @Override
    public boolean tryAcquire(DevicePrincipal device) {
        return buckets.computeIfAbsent(device.tenant().value() + "/" + device.device().value(),
                k -> new RateLimiter(perSecond, 2 * perSecond)).tryAcquire();
    }

    @Override
    public double perSecond() {
        return perSecond;
    }
}
