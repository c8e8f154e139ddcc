package dev.bulwark.server.device;

import java.util.Map;
import java.util.concurrent.ConcurrentHashMap;

/**
 * The per-device message budget, shared by every listener (MQTT, device HTTPS) and kept across
 * reconnects, so that neither switching protocol nor reconnecting resets it.
 */
public final class DeviceRateLimits {
    private final double perSecond;
    private final Map<String, RateLimiter> buckets = new ConcurrentHashMap<>();

    public DeviceRateLimits(double perSecond) {
        this.perSecond = perSecond;
    }

    /** Takes one message from the device's budget; false when it is exhausted. */
    public boolean tryAcquire(DevicePrincipal device) {
        return buckets.computeIfAbsent(device.tenant().value() + "/" + device.device().value(),
                k -> new RateLimiter(perSecond, 2 * perSecond)).tryAcquire();
    }

    public double perSecond() {
        return perSecond;
    }
}
