package dev.bulwark.server.device;

/**
 * Per-tenant limits, so that one tenant's fleet (or an attacker holding one tenant's credentials) cannot
 * starve the others: concurrent device connections, and messages per second over all the tenant's devices.
 * {@link InProcessQuotas} counts for one node.
 *
 * <p>What any implementation must guarantee: a slot taken by {@link #connect} or {@link #takeOver} is returned
 * by exactly one {@link #disconnect} (a session that ends on a node that dies must not hold its slot for
 * ever: a distributed implementation expires the slots of a node that stopped); {@link #connect} never lets
 * the count exceed {@link #maxConnections()} except through {@link #takeOver}. A distributed implementation may
 * approximate both (the connections admitted at once on several nodes, the message rate by each node enforcing a
 * share), as long as the approximation is bounded and documented.
 */
public interface TenantQuotas {

    /** Takes a connection slot; false when the tenant is at its quota. */
    boolean connect(String tenant);

    /** Takes a slot regardless of the quota: a device taking over its own session, whose old slot is about to return. */
    void takeOver(String tenant);

    /** Returns a slot taken by {@link #connect} or {@link #takeOver}. */
    void disconnect(String tenant);

    /** The tenant's connections now. */
    int connections(String tenant);

    /** One message of the tenant; false when the tenant exceeds its rate. */
    boolean message(String tenant);

    int maxConnections();

    int messagesPerSecond();
}
