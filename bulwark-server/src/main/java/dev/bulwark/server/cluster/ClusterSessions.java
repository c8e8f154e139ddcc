package dev.bulwark.server.cluster;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import dev.bulwark.protocol.DeviceId;
import dev.bulwark.protocol.InvalidIdException;
import dev.bulwark.protocol.TenantId;
import dev.bulwark.server.device.InProcessSessions;
import dev.bulwark.server.device.LiveSessions;
import dev.bulwark.server.monitor.SecurityEvent;
import dev.bulwark.server.monitor.SecurityEvents;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.OptionalLong;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * The live sessions of a cluster: one session per device in the whole cluster, and every termination carried
 * out on whichever node holds the session. This node's sessions are an {@link InProcessSessions}; what crosses
 * nodes goes on the {@code control} topic, keyed by {@code tenant/device} (or by tenant for a tenant-wide
 * termination), and through the device leases in the shared database.
 *
 * <ul>
 *   <li><b>Terminations</b> act here at once, then go to every node as a {@code sessions-terminate} record
 *       ({@code tenant}, and {@code device}, {@code credential} or {@code credentialPrefix}, {@code reason}); a
 *       node that hears one from another node advances its revocation epoch and closes what matches, as for a
 *       request of its own (see {@link LiveSessions}).</li>
 *   <li><b>Takeover.</b> A session registered here takes the device's lease ({@link LeaseStore#acquire}, on a
 *       worker thread), whose epoch is one above every earlier session's of that device, then announces itself
 *       with a {@code session-opened} record ({@code tenant}, {@code device}, {@code node}, {@code epoch},
 *       {@code source}). The node holding a session of that device with a lower epoch closes it, records
 *       {@code duplicate-identity} (both sources in the identity, as for a takeover on one node, both nodes in
 *       the detail), and that record feeds its clone detector: a takeover is counted once, by the node whose
 *       session was taken over. A session whose lease cannot be taken (database unreachable) is closed: without
 *       it, neither the one session per device nor the routing to it holds.</li>
 *   <li><b>Release.</b> A session that ends releases its lease unless a later session superseded it.</li>
 * </ul>
 */
public final class ClusterSessions implements LiveSessions, AutoCloseable {
    private static final Logger LOG = LoggerFactory.getLogger(ClusterSessions.class);
    static final String TERMINATE = "sessions-terminate";
    static final String OPENED = "session-opened";
    /** The epoch of a session whose lease could not be taken: any other session of the device is later. */
    private static final long NO_LEASE = -1;

    private final ClusterNode cluster;
    private final InProcessSessions local = new InProcessSessions();
    /** This node's sessions and their leases. */
    private final Map<Session, Held> held = new ConcurrentHashMap<>();
    private final ExecutorService worker;
    private volatile SecurityEvents events;
    private final java.util.concurrent.atomic.AtomicLong heard = new java.util.concurrent.atomic.AtomicLong();

    /** A session of this node and its lease: epoch 0 until the lease is taken. Guarded by itself. */
    private static final class Held {
        final Session session;
        long epoch;
        boolean ended;
        /** Closed as taken over (recorded once, whether the takeover was heard or found by the session sweep). */
        boolean takenOver;
        /** The latest session of the device another node announced while this one's lease was being taken. */
        Opened later;
        CompletableFuture<Void> acquired = CompletableFuture.completedFuture(null);

        Held(Session session) {
            this.session = session;
        }
    }

    /** A {@code session-opened} record. */
    private record Opened(TenantId tenant, DeviceId device, String node, long epoch, String source) {
    }

    public ClusterSessions(ClusterNode cluster) {
        this.cluster = cluster;
        AtomicInteger n = new AtomicInteger();
        this.worker = Executors.newFixedThreadPool(2, r -> {
            Thread t = new Thread(r, "bulwark-device-leases-" + n.incrementAndGet());
            t.setDaemon(true);
            return t;
        });
        ClusterBus bus = cluster.bus();
        bus.on(ClusterNode.CONTROL, TERMINATE, e -> {
            if (!bus.own(e)) {
                terminated(e);
            }
        });
        bus.on(ClusterNode.CONTROL, OPENED, e -> {
            if (!bus.own(e)) {
                opened(e);
            }
        });
    }

    /** Where the takeovers of this node's sessions are recorded (the security events are built after the sessions). */
    public void recordTo(SecurityEvents securityEvents) {
        this.events = securityEvents;
    }

    public ClusterNode cluster() {
        return cluster;
    }

    /**
     * The epoch of the lease this node's session of the device holds, or empty when this node has no session of
     * the device or its lease is not taken yet. The lease may have been superseded since: {@link LeaseStore#holds}
     * tells, under the database's lock.
     */
    public OptionalLong leaseEpoch(TenantId tenant, DeviceId device) {
        Session s = local.get(tenant, device);
        Held h = s == null ? null : held.get(s);
        if (h == null) {
            return OptionalLong.empty();
        }
        synchronized (h) {
            return h.epoch > 0 && !h.ended ? OptionalLong.of(h.epoch) : OptionalLong.empty();
        }
    }

    @Override
    public long epoch() {
        return local.epoch();
    }

    @Override
    public Session put(Session s) {
        Session previous = local.put(s);
        Held h = new Held(s);
        held.put(s, h); // before the lease is taken: a later session announced meanwhile is compared with it
        CompletableFuture<Void> acquiring = CompletableFuture.runAsync(() -> acquire(h), worker);
        synchronized (h) {
            h.acquired = acquiring;
        }
        return previous;
    }

    private void acquire(Held h) {
        TenantId tenant = h.session.device().tenant();
        DeviceId device = h.session.device().device();
        long epoch;
        try {
            epoch = cluster.db().tx(t -> cluster.leases().acquire(t, tenant, device, cluster.nodeId(), h.session.connectionId(),
                    h.session.source(), cluster.clock().nowMs())).lease().epoch();
        } catch (RuntimeException e) {
            LOG.warn("the lease of device {}/{} could not be taken ({}): its session is closed", tenant, device, e.getClass().getSimpleName());
            synchronized (h) {
                h.epoch = NO_LEASE;
            }
            h.session.terminate("no device lease: the database is unreachable");
            return;
        }
        Opened later;
        boolean ended;
        synchronized (h) {
            h.epoch = epoch;
            later = h.later;
            ended = h.ended;
        }
        // announced even when the session ended meanwhile: as on one node, a new connection takes over the older one
        ObjectNode body = ClusterBus.body().put("tenant", tenant.value()).put("device", device.value()).put("node", cluster.nodeId())
                .put("epoch", epoch).put("source", h.session.source());
        cluster.bus().publish(ClusterNode.CONTROL, tenant.value() + "/" + device.value(), OPENED, body);
        if (ended) {
            release(h); // it ended before its lease was taken
        } else if (later != null && later.epoch() > epoch) {
            takenOver(h, later, "");
        }
    }

    @Override
    public void remove(Session s) {
        local.remove(s);
        Held h = held.remove(s);
        if (h == null) {
            return;
        }
        CompletableFuture<Void> acquired;
        synchronized (h) {
            h.ended = true;
            acquired = h.acquired;
        }
        try {
            acquired.thenRunAsync(() -> release(h), worker);
        } catch (java.util.concurrent.RejectedExecutionException closing) {
            // the node is stopping: it releases its leases when it starts again
        }
    }

    private void release(Held h) {
        long epoch;
        synchronized (h) {
            epoch = h.epoch;
        }
        if (epoch <= 0) {
            return;
        }
        TenantId tenant = h.session.device().tenant();
        DeviceId device = h.session.device().device();
        try {
            cluster.db().tx(t -> cluster.leases().release(t, tenant, device, cluster.nodeId(), epoch));
        } catch (RuntimeException e) {
            // the lease stays with this node until the device's next session supersedes it or this node restarts
            LOG.warn("the lease of device {}/{} could not be released: {}", tenant, device, e.getClass().getSimpleName());
        }
    }

    /** Another node announced a session of a device: this node's session of it, if older, was taken over. */
    private void opened(ClusterBus.Envelope e) {
        Opened o;
        try {
            JsonNode b = e.body();
            o = new Opened(TenantId.of(b.path("tenant").asText()), DeviceId.of(b.path("device").asText()), e.node(),
                    b.path("epoch").asLong(), b.path("source").asText());
        } catch (InvalidIdException bad) {
            LOG.warn("ignored a session-opened record with an invalid device from node {}", e.node());
            return;
        }
        Session s = local.get(o.tenant(), o.device());
        Held h = s == null ? null : held.get(s);
        if (h == null) {
            return;
        }
        synchronized (h) {
            if (h.ended || (h.epoch != 0 && h.epoch >= o.epoch())) {
                return;
            }
            if (h.epoch == 0) {
                // its lease is being taken: compared once it is
                if (h.later == null || h.later.epoch() < o.epoch()) {
                    h.later = o;
                }
                return;
            }
        }
        takenOver(h, o, "");
    }

    /** Closes {@code h}'s session, taken over by the later session {@code by}; {@code found} ends the recorded reason. */
    private void takenOver(Held h, Opened by, String found) {
        synchronized (h) {
            if (h.takenOver) {
                return;
            }
            h.takenOver = true;
        }
        Session s = h.session;
        SecurityEvents sink = events;
        if (sink != null) {
            String source = by.source();
            int colon = source.lastIndexOf(':');
            String address = colon > 0 ? source.substring(0, colon) : null;
            int port = 0;
            if (colon > 0) {
                try {
                    port = Integer.parseInt(source.substring(colon + 1));
                } catch (NumberFormatException notAPort) {
                    port = 0;
                }
            }
            sink.record(new SecurityEvent(cluster.clock().nowMs(), s.device().tenant().value(), "duplicate-identity",
                    "a second connection with the same identity took over the session" + found,
                    s.device().describe() + " previous-source:" + s.source() + " new-source:" + source, address, port, "mqtt",
                    "previous-node:" + cluster.nodeId() + " new-node:" + by.node()));
        }
        LOG.debug("session of device {}/{} taken over by node {}", s.device().tenant(), s.device().device(), by.node());
        s.takenOver();
    }

    /** A session of this node whose lease is taken, and the lease's epoch: what the session sweep checks. */
    public record Leased(Session session, long epoch) {
    }

    /** This node's sessions whose lease is taken, as they are now. */
    public List<Leased> leased() {
        List<Leased> out = new ArrayList<>(held.size());
        for (Held h : held.values()) {
            synchronized (h) {
                if (h.epoch > 0 && !h.ended && !h.takenOver) {
                    out.add(new Leased(h.session, h.epoch));
                }
            }
        }
        return out;
    }

    /**
     * The session sweep found that the lease of {@code epoch} of {@code s} is no longer this node's ({@code current}: the
     * device's lease now). Superseded by a later session: closed as taken over, {@code duplicate-identity} recorded as when
     * the takeover is heard, {@code found} ending its reason. Otherwise (released, or gone): closed, recorded as a
     * termination. Returns false, doing nothing, when the session ended, was replaced on this node or took another
     * lease meanwhile.
     */
    public boolean leaseLost(Session s, long epoch, Optional<LeaseStore.Lease> current, String found) {
        Held h = held.get(s);
        if (h == null || local.get(s.device().tenant(), s.device().device()) != s) {
            return false; // ended, or replaced by a later session on this node (which closes it, as on one node)
        }
        synchronized (h) {
            if (h.ended || h.takenOver || h.epoch != epoch) {
                return false;
            }
        }
        if (current.isPresent() && current.get().epoch() > epoch) {
            LeaseStore.Lease later = current.get();
            takenOver(h, new Opened(later.tenant(), later.device(), later.node().isEmpty() ? "none" : later.node(), later.epoch(),
                    later.source() == null ? "" : later.source()), found);
        } else {
            s.terminate("device lease lost" + found);
        }
        return true;
    }

    /** A termination requested on another node. */
    private void terminated(ClusterBus.Envelope e) {
        JsonNode b = e.body();
        TenantId tenant;
        try {
            tenant = TenantId.of(b.path("tenant").asText());
        } catch (InvalidIdException bad) {
            LOG.warn("ignored a termination record with an invalid tenant from node {}", e.node());
            return;
        }
        String reason = dev.bulwark.server.ingress.Printable.clip(b.path("reason").asText("terminated"));
        try {
            if (b.hasNonNull("credentialPrefix")) {
                String prefix = b.get("credentialPrefix").asText();
                if (!prefix.matches("(certificate|token):[^/]{1,80}/")) {
                    LOG.warn("ignored a termination by credential prefix that names no tenant CA (from node {})", e.node());
                    return;
                }
                local.terminateUsingCredentialPrefix(tenant, prefix, reason);
            } else if (b.hasNonNull("credential")) {
                local.terminateIfUsing(tenant, DeviceId.of(b.path("device").asText()), b.get("credential").asText(), reason);
            } else {
                local.terminate(tenant, DeviceId.of(b.path("device").asText()), reason);
            }
        } catch (InvalidIdException bad) {
            LOG.warn("ignored a termination record with an invalid device from node {}", e.node());
        }
        heard.incrementAndGet();
    }

    /** The termination requests of other nodes carried out on this node so far. */
    public long terminationsHeard() {
        return heard.get();
    }

    private void tell(String key, ObjectNode body) {
        cluster.bus().publish(ClusterNode.CONTROL, key, TERMINATE, body);
    }

    @Override
    public void terminate(TenantId tenant, DeviceId device, String reason) {
        local.terminate(tenant, device, reason);
        tell(tenant.value() + "/" + device.value(), ClusterBus.body().put("tenant", tenant.value()).put("device", device.value())
                .put("reason", reason));
    }

    @Override
    public void terminateIfUsing(TenantId tenant, DeviceId device, String credential, String reason) {
        local.terminateIfUsing(tenant, device, credential, reason);
        tell(tenant.value() + "/" + device.value(), ClusterBus.body().put("tenant", tenant.value()).put("device", device.value())
                .put("credential", credential).put("reason", reason));
    }

    @Override
    public void terminateUsingCredentialPrefix(TenantId tenant, String credentialPrefix, String reason) {
        local.terminateUsingCredentialPrefix(tenant, credentialPrefix, reason);
        tell(tenant.value(), ClusterBus.body().put("tenant", tenant.value()).put("credentialPrefix", credentialPrefix).put("reason", reason));
    }

    @Override
    public Session get(TenantId tenant, DeviceId device) {
        return local.get(tenant, device);
    }

    @Override
    public boolean connected(TenantId tenant, DeviceId device) {
        return local.connected(tenant, device);
    }

    @Override
    public int size() {
        return local.size();
    }

    @Override
    public Iterable<Session> all() {
        return local.all();
    }

    /** Lets the leases of the sessions that ended be released, then stops the lease worker. */
    @Override
    public void close() {
        worker.shutdown();
        try {
            if (!worker.awaitTermination(5, TimeUnit.SECONDS)) {
                worker.shutdownNow();
            }
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            worker.shutdownNow();
        }
    }
}
