package dev.bulwark.server.device;

/**
 * The per-device message budget, shared by every listener (MQTT, device HTTPS) and kept across reconnects,
 * so that neither switching protocol nor reconnecting resets it. {@link InProcessRateLimits} keeps the budgets
 * of one node.
 *
 * <p>What any implementation must guarantee: the budget belongs to the device, not to a connection, a
 * protocol or a node, so a device reconnecting (to this node or, scaled out, to another one) continues with
 * what it had left. A distributed implementation may approximate it (a device is connected to one node at a
 * time, so the budget can move with the device's session), within a documented bound.
 */
public interface DeviceRateLimits {

    /** Takes one message from the device's budget; false when it is exhausted. */
    boolean tryAcquire(DevicePrincipal device);

    /** The sustained rate per device. */
    double perSecond();
}
