package dev.bulwark.server.cluster;

import dev.bulwark.server.device.CredentialStore;
import dev.bulwark.server.device.CredentialStore.SessionKey;
import dev.bulwark.server.device.LiveSessions.Session;
import java.time.Duration;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.Executors;
import java.util.concurrent.ScheduledExecutorService;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicLong;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * The backstop of containment across nodes. A termination reaches the node holding the session as a record on
 * the {@code control} topic; while Kafka is unreachable it does not arrive, and neither does the announcement of
 * a session that took over. So every few seconds ({@link #INTERVAL}) each node checks the sessions it holds
 * against the shared database and closes every one that would be refused now:
 * <ul>
 *   <li>its device is quarantined, disabled or deleted, its certificate revoked or expired, its token revoked or
 *       expired, or its tenant CA revoked or expired: the authenticator's rules at CONNECT
 *       ({@link CredentialStore#refusedNow}); closed with the reason a termination gives, followed by
 *       {@value #FOUND}, and recorded as {@code session-terminated} as every termination is;</li>
 *   <li>its device lease is no longer this node's with its epoch (a later session took the device over while
 *       the announcement could not arrive): closed as taken over, {@code duplicate-identity} recorded.</li>
 * </ul>
 * Cost: two queries per {@link CredentialStore#KEYS_PER_QUERY} sessions per sweep (credentials, leases), on its own
 * thread, never an event loop. A sweep that cannot reach the database closes nothing and is tried again at the
 * next interval. Unlike a standalone node, whose sessions are checked at CONNECT only, a cluster node thereby
 * also closes a session whose certificate or token expired while it was open.
 */
public final class SessionSweep implements AutoCloseable {
    private static final Logger LOG = LoggerFactory.getLogger(SessionSweep.class);
    /** How often a node sweeps its sessions by default. */
    public static final Duration INTERVAL = Duration.ofSeconds(5);
    /** Ends the reason of every closing the sweep makes. */
    public static final String FOUND = " (found by the session sweep)";

    private final ClusterSessions sessions;
    private final ClusterNode cluster;
    private final CredentialStore credentials;
    private final ScheduledExecutorService timer;
    private final AtomicLong sweeps = new AtomicLong();
    private final AtomicLong closed = new AtomicLong();
    private final AtomicLong failed = new AtomicLong();
    private volatile long lastSweepMicros;
    private boolean failing;

    /** What one sweep found. */
    public record Result(int checked, int refused, int takenOver, long micros) {
    }

    private SessionSweep(ClusterSessions sessions, CredentialStore credentials, Duration interval) {
        if (interval.isNegative() || interval.isZero()) {
            throw new IllegalArgumentException("the session sweep interval must be positive");
        }
        this.sessions = sessions;
        this.cluster = sessions.cluster();
        this.credentials = credentials;
        this.timer = Executors.newSingleThreadScheduledExecutor(r -> {
            Thread t = new Thread(r, "bulwark-session-sweep");
            t.setDaemon(true);
            return t;
        });
        long ms = interval.toMillis();
        timer.scheduleWithFixedDelay(this::tick, ms, ms, TimeUnit.MILLISECONDS);
    }

    /** Sweeps {@code sessions} every {@code interval}, the first time one interval from now. */
    public static SessionSweep start(ClusterSessions sessions, CredentialStore credentials, Duration interval) {
        return new SessionSweep(sessions, credentials, interval);
    }

    private void tick() {
        try {
            sweep();
            if (failing) {
                failing = false;
                LOG.info("the session sweep reaches the database again");
            }
        } catch (RuntimeException e) {
            failed.incrementAndGet();
            if (!failing) {
                failing = true; // said once per outage, not every few seconds
                LOG.warn("the session sweep cannot check the sessions against the database ({}): retrying every interval",
                        e.getClass().getSimpleName());
            }
        } finally {
            sweeps.incrementAndGet();
        }
    }

    /** One sweep of this node's sessions, now (on the caller's thread: it blocks on the database). */
    public Result sweep() {
        return check(sessions.leased());
    }

    /** Checks {@code live} against the database and closes what it must; package-private for the cost measurement. */
    Result check(List<ClusterSessions.Leased> live) {
        long t0 = System.nanoTime();
        int refused = 0;
        int takenOver = 0;
        int batch = Math.min(CredentialStore.KEYS_PER_QUERY, LeaseStore.CLAIMS_PER_QUERY);
        for (int from = 0; from < live.size(); from += batch) {
            List<ClusterSessions.Leased> part = live.subList(from, Math.min(live.size(), from + batch));
            List<SessionKey> keys = new ArrayList<>(part.size());
            List<LeaseStore.Claim> claims = new ArrayList<>(part.size());
            Map<LeaseStore.Claim, ClusterSessions.Leased> byClaim = new HashMap<>(part.size() * 2);
            for (ClusterSessions.Leased l : part) {
                SessionKey k = SessionKey.of(l.session().device());
                LeaseStore.Claim c = new LeaseStore.Claim(k.tenant(), k.device(), l.epoch());
                keys.add(k);
                claims.add(c);
                byClaim.put(c, l);
            }
            long now = cluster.clock().nowMs();
            Map<SessionKey, String> refusals = cluster.db().read(h -> credentials.refusedNow(h, keys, now));
            List<LeaseStore.Lost> lost = cluster.db().read(h -> cluster.leases().lost(h, cluster.nodeId(), claims));
            for (int i = 0; i < part.size(); i++) {
                String code = refusals.get(keys.get(i));
                if (code != null) {
                    Session s = part.get(i).session();
                    LOG.debug("session sweep: {} refused now ({})", s.device().describe(), code);
                    s.terminate(reason(code) + FOUND);
                    refused++;
                }
            }
            for (LeaseStore.Lost l : lost) {
                ClusterSessions.Leased held = byClaim.get(l.claim());
                if (refusals.containsKey(SessionKey.of(held.session().device()))) {
                    continue; // closed above, for the stronger reason
                }
                if (sessions.leaseLost(held.session(), held.epoch(), l.current(), FOUND)) {
                    takenOver++;
                }
            }
        }
        closed.addAndGet(refused + takenOver);
        long micros = (System.nanoTime() - t0) / 1000;
        lastSweepMicros = micros;
        return new Result(live.size(), refused, takenOver, micros);
    }

    /** The reason a termination gives for what the authenticator's {@code code} says (e.g. {@code device quarantined}). */
    static String reason(String code) {
        return switch (code) {
            case "device-unknown" -> "device deleted";
            case "device-quarantined" -> "device quarantined";
            case "device-disabled" -> "device disabled";
            case "ca-revoked" -> "tenant CA revoked";
            case "ca-expired" -> "tenant CA expired";
            case "certificate-revoked" -> "certificate revoked";
            case "certificate-expired" -> "certificate expired";
            case "token-revoked" -> "device token revoked";
            case "token-expired" -> "device token expired";
            default -> "credential refused: " + code;
        };
    }

    /** Sweeps run (failed ones included). */
    public long sweeps() {
        return sweeps.get();
    }

    /** Sessions the sweeps closed. */
    public long closed() {
        return closed.get();
    }

    /** Sweeps that could not reach the database. */
    public long failed() {
        return failed.get();
    }

    /** How long the last sweep that reached the database took, in microseconds. */
    public long lastSweepMicros() {
        return lastSweepMicros;
    }

    @Override
    public void close() {
        timer.shutdownNow();
        try {
            timer.awaitTermination(5, TimeUnit.SECONDS);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        }
    }
}
