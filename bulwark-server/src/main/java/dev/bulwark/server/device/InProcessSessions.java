package dev.bulwark.server.device;

import dev.bulwark.protocol.DeviceId;
import dev.bulwark.protocol.TenantId;
import java.util.Map;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.atomic.AtomicLong;

/** The sessions of one node, in memory: a standalone node's {@link LiveSessions}. */
public final class InProcessSessions implements LiveSessions {
    private final Map<String, Session> sessions = new ConcurrentHashMap<>();
    /** The revocation epoch (see {@link LiveSessions}): incremented before each termination looks for sessions. */
    private final AtomicLong epoch = new AtomicLong();

    @Override
    public long epoch() {
        return epoch.get();
    }

    static String key(TenantId tenant, DeviceId device) {
        return tenant.value() + "/" + device.value();
    }

    @Override
    public Session put(Session s) {
        return sessions.put(key(s.device().tenant(), s.device().device()), s);
    }

    @Override
    public void remove(Session s) {
        sessions.remove(key(s.device().tenant(), s.device().device()), s);
    }

    @Override
    public Session get(TenantId tenant, DeviceId device) {
        return sessions.get(key(tenant, device));
    }

    @Override
    public boolean connected(TenantId tenant, DeviceId device) {
        return sessions.containsKey(key(tenant, device));
    }

    @Override
    public int size() {
        return sessions.size();
    }

    @Override
    public Iterable<Session> all() {
        return sessions.values();
    }

    @Override
    public void terminate(TenantId tenant, DeviceId device, String reason) {
        epoch.incrementAndGet();
        Session s = sessions.get(key(tenant, device));
        if (s != null) {
            s.terminate(reason);
        }
    }

    @Override
    public void terminateUsingCredentialPrefix(TenantId tenant, String credentialPrefix, String reason) {
        epoch.incrementAndGet();
        for (Session s : sessions.values()) {
            if (s.device().tenant().equals(tenant) && s.device().credential().startsWith(credentialPrefix)) {
                s.terminate(reason);
            }
        }
    }

    @Override
    public void terminateIfUsing(TenantId tenant, DeviceId device, String credential, String reason) {
        epoch.incrementAndGet();
        Session s = sessions.get(key(tenant, device));
        if (s != null && s.device().credential().equals(credential)) {
            s.terminate(reason);
        }
    }
}
