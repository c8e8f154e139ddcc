package dev.bulwark.server.device;

import dev.bulwark.protocol.DeviceId;
import dev.bulwark.protocol.TenantId;

/**
 * The devices connected, one live session per device. Revocation acts on it at once: disabling or deleting a
 * device, or revoking the credential a session authenticated with, closes that session (the next CONNECT is
 * refused by the authenticator). {@link InProcessSessions} holds the sessions of one node; a cluster's
 * implementation wraps it and tells the other nodes (every request is serializable for that reason).
 *
 * <p>What any implementation must guarantee (a distributed one in particular, where the session may be held by
 * another node):
 * <ul>
 *   <li><b>One session per device.</b> {@link #put} returns the session it replaces on this node, which the caller
 *       closes; a session of the device held by another node is closed by that node (taken over).</li>
 *   <li><b>The revocation epoch.</b> Every termination request ({@link #terminate}, {@link #terminateIfUsing},
 *       {@link #terminateUsingCredentialPrefix}) advances {@link #epoch()} <em>before</em> it looks for sessions to close, and
 *       is called only after its revocation committed. A CONNECT reads the epoch before authenticating and again
 *       after registering its session: unchanged, nothing was revoked in between; changed, it authenticates once
 *       more with its session registered, so that a termination either finds the session or committed before the
 *       second check. In a cluster, each node has its epoch, and a node advances it when a termination request
 *       of any node reaches it, before it looks for the sessions to close: the request is sent after its
 *       revocation committed, so a CONNECT whose authentication read the state before the commit either sees
 *       the epoch change (and authenticates again, reading the committed state) or registered its session
 *       before the request arrived (and the request finds it).</li>
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

        /** Another connection of the same device took over: closes this one (no Will; MQTT 5: "session taken over"). */
        default void takenOver() {
            terminate("session taken over");
        }

        /** Where the session connects from, {@code host:port} ("" when unknown). */
        default String source() {
            return "";
        }

        /** The connection's id, unique enough to tell two sessions of one device apart in records. */
        default String connectionId() {
            return "";
        }
    }

    /** The revocation epoch (see above); read before authenticating a connection, compared after registering it. */
    long epoch();

    /** Registers a new session; returns the one it replaces on this node (same device), or null. */
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

    /**
     * Closes every session of {@code tenant} whose credential starts with {@code credentialPrefix} (e.g. all that
     * used a revoked tenant CA: {@code certificate:<caId>/}).
     */
    void terminateUsingCredentialPrefix(TenantId tenant, String credentialPrefix, String reason);

    /** Closes the device's session if it authenticated with {@code credential} (e.g. {@code token:<id>}). */
    void terminateIfUsing(TenantId tenant, DeviceId device, String credential, String reason);
}
