package dev.bulwark.server.monitor;

import dev.bulwark.server.Clock;
import dev.bulwark.server.config.DetectionSettings;
import dev.bulwark.server.crypto.Secrets;
import java.util.ArrayDeque;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.Deque;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.atomic.AtomicLong;

/**
 * Responses keyed by <em>source address</em>, never by identity, so an attack on a device's identity from
 * elsewhere cannot lock the device out:
 *
 * <ul>
 *   <li><b>Tarpit.</b> After a few failures from one source within the window, each further refusal to that
 *       source is delayed, doubling up to a maximum. Successful logins are never delayed.</li>
 *   <li><b>Temporary bans.</b> The detector bans the sources of a brute-force, distributed or enumeration
 *       attack; a source's first ban lasts {@code banBase}, each further one twice as long, up to
 *       {@code banMax}. A banned source is refused before authentication, except for a credential that
 *       already connected successfully from that very address (a legitimate device behind the same NAT as
 *       an attacker keeps working).</li>
 * </ul>
 */
public final class SourceGuard {

    /** A ban on one source address. */
    public record Ban(String id, String address, long sinceMs, long untilMs, String label, String reason, String tenantId,
                      String alertId, int strike) {
    }

    private final Clock clock;
    private final DetectionSettings settings;
    private final Map<String, Ban> bans = new ConcurrentHashMap<>();
    private final Map<String, Integer> strikes = new ConcurrentHashMap<>();
    private final Map<String, Deque<Long>> failures = new ConcurrentHashMap<>();
    private final Map<String, Boolean> knownGood = java.util.Collections.synchronizedMap(new LinkedHashMap<>(1024, 0.75f, true) {
        @Override
        protected boolean removeEldestEntry(Map.Entry<String, Boolean> eldest) {
            return size() > 200_000;
        }
    });
    private final AtomicLong bansIssued = new AtomicLong();
    private final AtomicLong refusedWhileBanned = new AtomicLong();

    public SourceGuard(Clock clock, DetectionSettings settings) {
        this.clock = clock;
        this.settings = settings;
    }

    /**
     * The unit responses apply to: an IPv4 address, or an IPv6 /64 (one subscriber's network: an attacker
     * rotating addresses inside it stays one source).
     */
    public static String sourceKey(String address) {
        if (address == null || address.indexOf(':') < 0) {
            return address;
        }
        try {
            byte[] b = java.net.InetAddress.getByName(address).getAddress();
            if (b.length != 16) {
                return address;
            }
            return String.format("%02x%02x:%02x%02x:%02x%02x:%02x%02x::/64", b[0], b[1], b[2], b[3], b[4], b[5], b[6], b[7]);
        } catch (java.net.UnknownHostException e) {
            return address;
        }
    }

    /** The active ban on {@code address}, if any. */
    public Optional<Ban> banned(String address) {
        address = sourceKey(address);
        if (address == null) {
            return Optional.empty();
        }
        Ban b = bans.get(address);
        if (b == null) {
            return Optional.empty();
        }
        if (b.untilMs() <= clock.nowMs()) {
            bans.remove(address, b);
            return Optional.empty();
        }
        return Optional.of(b);
    }

    /**
     * Whether a connection from {@code address} presenting {@code credential} (a fingerprint, or null) may go
     * on to authentication: not banned, or a credential known good from this address.
     */
    public Optional<Ban> refuse(String address, String credential) {
        address = sourceKey(address);
        Optional<Ban> b = banned(address);
        if (b.isPresent() && credential != null && knownGood.containsKey(address + "|" + credential)) {
            return Optional.empty();
        }
        b.ifPresent(x -> refusedWhileBanned.incrementAndGet());
        return b;
    }

    /** Records a successful authentication: this credential is known good from this address. */
    public void succeeded(String address, String credential) {
        address = sourceKey(address);
        if (address != null && credential != null) {
            knownGood.put(address + "|" + credential, Boolean.TRUE);
        }
    }

    /** Records a failed authentication from {@code address}; returns how long to delay the refusal (ms). */
    public long failed(String address) {
        address = sourceKey(address);
        if (address == null) {
            return 0;
        }
        long now = clock.nowMs();
        int n;
        Deque<Long> q = failures.computeIfAbsent(address, a -> new ArrayDeque<>());
        synchronized (q) {
            q.addLast(now);
            while (!q.isEmpty() && q.peekFirst() < now - settings.window().toMillis()) {
                q.pollFirst();
            }
            n = q.size();
        }
        if (failures.size() > 100_000) {
            failures.entrySet().removeIf(e -> {
                synchronized (e.getValue()) {
                    return e.getValue().isEmpty() || e.getValue().peekLast() < now - settings.window().toMillis();
                }
            });
        }
        int over = n - settings.tarpitFreeFailures();
        if (over <= 0) {
            return 0;
        }
        long delay = 250L << Math.min(over - 1, 20);
        return Math.min(delay, settings.tarpitMax().toMillis());
    }

    /** Bans {@code address} (or extends its ban); returns the ban. */
    public Ban ban(String address, String label, String reason, String tenantId, String alertId) {
        address = sourceKey(address);
        long now = clock.nowMs();
        if (strikes.size() > 100_000) {
            strikes.clear();
            bans.values().removeIf(x -> x.untilMs() <= now);
        }
        Optional<Ban> current = banned(address);
        if (current.isPresent()) {
            return current.get();
        }
        int strike = strikes.merge(address, 1, Integer::sum);
        long duration = Math.min(settings.banMax().toMillis(), settings.banBase().toMillis() << Math.min(strike - 1, 20));
        Ban b = new Ban("ban-" + Secrets.randomHex(8), address, now, now + duration, label, reason, tenantId, alertId, strike);
        bans.put(address, b);
        bansIssued.incrementAndGet();
        return b;
    }

    /** Lifts a ban by id; the lifted ban, if it was active. */
    public Optional<Ban> lift(String id) {
        for (Ban b : bans.values()) {
            if (b.id().equals(id)) {
                if (bans.remove(b.address(), b)) {
                    return Optional.of(b);
                }
            }
        }
        return Optional.empty();
    }

    /** Active bans, newest first. */
    public List<Ban> active() {
        long now = clock.nowMs();
        List<Ban> out = new ArrayList<>();
        for (Ban b : bans.values()) {
            if (b.untilMs() > now) {
                out.add(b);
            }
        }
        out.sort(Comparator.comparingLong(Ban::sinceMs).reversed());
        return out;
    }

    public long bansIssued() {
        return bansIssued.get();
    }

    public long refusedWhileBanned() {
        return refusedWhileBanned.get();
    }
}
