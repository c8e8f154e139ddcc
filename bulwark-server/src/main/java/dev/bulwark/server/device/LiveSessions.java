package dev.bulwark.server.device;

import dev.bulwark.protocol.DeviceId;
import dev.bulwark.protocol.TenantId;
import java.util.function.Predicate;

/**
 * The devices connected, one live session per device. Revocation acts on it at once: disabling or deleting a
 * device, or revoking the credential a session authenticated with, closes that session (the next CONNECT is
 * refused by the authenticator). {@link InProcessSessions} holds the sessions of one node.
 *
 * <p>What any implementation must guarantee (a distributed one in particular, where the session may be held by
 * another node):
 * <ul>
 *   <li><b>One session per device.</b> {@link #put} returns the session it replaces, wherever that one lives, and
 *       the replaced session is terminated by whoever holds it.</li>
 *   <li><b>The revocation epoch.</b> Every termination request ({@link #terminate}, {@link #terminateWhere},
 *       {@link #terminateIfUsing}) advances {@link #epoch()} <em>before</em> it looks for sessions to close, and
 *       is called only after its revocation committed. A CONNECT reads the epoch before authenticating and again
 *       after registering its session: unchanged, nothing was revoked in between; changed, it authenticates once
 *       more with its session registered, so that a termination either finds the session or committed before the
 *       second check. A distributed epoch must be monotonic and visible to every node's CONNECT before the
 *       termination request returns, or a revoked credential can bind a session after its revocation.</li>
 *   <li><b>Terminations reach the holder.</b> A termination closes the matching session on whichever node holds
 *       it; {@code reason} is recorded and, on MQTT 5, sent as "administrative action".</li>
 * </ul>
 */
public interface LiveSessions {

    /** A connected device session. */
    interface Session {
        DevicePrincipal device();

        /** Closes the session; {@code reason} is recorded and, on MQTT 5, sent as "administrative action". */
        void terminate(String reason);
    }

    /** The revocation epoch (see above); read before authenticating a connection, compared after registering it. */
    long epoch();

    /** Registers a new session; returns the one it replaces (same device), or null. */
    Session put(Session s);

    /** Removes {@code s}, if it is still the device's session (not one that replaced it). */
    void remove(Session s);

    /** The device's session, or null. */
    Session get(TenantId tenant, DeviceId device);

    boolean connected(TenantId tenant, DeviceId device);

    /** The number of sessions held (by this node, for an implementation spanning several). */
    int size();

    /** The sessions held (by this node, for an implementation spanning several). */
    Iterable<Session> all();

    /** Closes the device's session, if any. */
    void terminate(TenantId tenant, DeviceId device, String reason);

    /** Closes every session whose device matches {@code which} (e.g. all that used a revoked tenant CA). */
    void terminateWhere(Predicate<DevicePrincipal> which, String reason);

    /** Closes the device's session if it authenticated with {@code credential} (e.g. {@code token:<id>}). */
    void terminateIfUsing(TenantId tenant, DeviceId device, String credential, String reason);
}
