package dev.bulwark.server.device;

import dev.bulwark.protocol.DeviceId;
import dev.bulwark.protocol.TenantId;
import java.util.Map;
import java.util.concurrent.ConcurrentHashMap;

/**
 * The devices connected to this node, one live session per device. Revocation acts on it at once:
 * disabling or deleting a device, or revoking the credential a session authenticated with, closes that
 * session (the next CONNECT is refused by the authenticator).
 */
public final class LiveSessions {

    /** A connected device session. */
    public interface Session {
        DevicePrincipal device();

        /** Closes the session; {@code reason} is recorded and, on MQTT 5, sent as "administrative action". */
        void terminate(String reason);
    }

    private final Map<String, Session> sessions = new ConcurrentHashMap<>();

    /**
     * The revocation epoch: every termination request increments it <em>before</em> it looks for sessions to
     * close (and it is called only after its revocation committed). A CONNECT reads it before authenticating
     * and again after registering its session: unchanged, nothing was revoked in between; changed, the
     * CONNECT authenticates once more with its session registered, so that a termination either finds the
     * session or has committed before the second check. Either way nothing revoked while a CONNECT was being
     * authenticated can bind after it.
     */
    private final java.util.concurrent.atomic.AtomicLong epoch = new java.util.concurrent.atomic.AtomicLong();

    /** The revocation epoch (see above); read before authenticating a connection, compared after registering it. */
    public long epoch() {
        return epoch.get();
    }

    static String key(TenantId tenant, DeviceId device) {
        return tenant.value() + "/" + device.value();
    }

    /** Registers a new session; returns the one it replaces (same device), or null. */
    public Session put(Session s) {
        return sessions.put(key(s.device().tenant(), s.device().device()), s);
    }

    public void remove(Session s) {
        sessions.remove(key(s.device().tenant(), s.device().device()), s);
    }

    public Session get(TenantId tenant, DeviceId device) {
        return sessions.get(key(tenant, device));
    }

    public boolean connected(TenantId tenant, DeviceId device) {
        return sessions.containsKey(key(tenant, device));
    }

    public int size() {
        return sessions.size();
    }

    public Iterable<Session> all() {
        return sessions.values();
    }

    /** Closes the device's session, if any. */
    public void terminate(TenantId tenant, DeviceId device, String reason) {
        epoch.incrementAndGet();
        Session s = sessions.get(key(tenant, device));
        if (s != null) {
            s.terminate(reason);
        }
    }

    /** Closes every session whose device matches {@code which} (e.g. all that used a revoked tenant CA). */
    public void terminateWhere(java.util.function.Predicate<DevicePrincipal> which, String reason) {
        epoch.incrementAndGet();
        for (Session s : sessions.values()) {
            if (which.test(s.device())) {
                s.terminate(reason);
            }
        }
    }

    /** Closes the device's session if it authenticated with {@code credential} (e.g. {@code token:<id>}). */
    public void terminateIfUsing(TenantId tenant, DeviceId device, String credential, String reason) {
        epoch.incrementAndGet();
        Session s = sessions.get(key(tenant, device));
        if (s != null && s.device().credential().equals(credential)) {
            s.terminate(reason);
        }
    }
}
