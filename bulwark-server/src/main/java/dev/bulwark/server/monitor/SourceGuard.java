package dev.bulwark.server.monitor;

import java.util.List;
import java.util.Optional;
import java.util.Set;

/**
 * Responses keyed by <em>source address</em>, never by identity, so an attack on a device's identity from
 * elsewhere cannot lock the device out:
 *
 * <ul>
 *   <li><b>Tarpit.</b> After a few failures from one source within the window, each further refusal to that
 *       source is delayed, doubling up to a maximum. The delays of one source are <em>queued</em>: a refusal is
 *       released only after the source's previous delayed refusal plus its own delay, so concurrent guesses
 *       wait cumulatively (45 parallel guesses do not all come back after one delay). The queue of a source
 *       holds at most {@link #backlogMs()} of delay; while it is that full, further attempts of the source are
 *       refused before authentication (a {@code tarpit} refusal, no guess is evaluated), which bounds the
 *       connections a source can keep waiting. Successful logins are never delayed.</li>
 *   <li><b>Temporary bans.</b> The detector bans the sources of a brute-force, distributed, enumeration or
 *       credential-stuffing attack; a source's first ban lasts {@code banBase}, each further one twice as long,
 *       up to {@code banMax}. A ban records the scopes it protects (tenants, or the platform for attacks on
 *       names that exist nowhere): a tenant may lift only a ban protecting it alone. A banned source is refused
 *       before authentication, except for a credential that already authenticated successfully from that very
 *       address (a legitimate device or operator behind the same NAT as an attacker keeps working).</li>
 * </ul>
 *
 * <p>{@link InProcessBans} keeps all of it in one node's memory. What any implementation must guarantee (a
 * distributed one in particular, shared by the nodes of a cluster):
 * <ul>
 *   <li>a ban returned by {@link #ban} is enforced by {@link #refuse} and {@link #banned} on every node from the
 *       moment {@code ban} returns (within the propagation bound the implementation documents), until its
 *       {@code untilMs} or its {@link #lift};</li>
 *   <li>{@link #ban} of an address already banned widens the existing ban's scopes and keeps its id, so that one
 *       attack seen by several nodes is one ban; strikes (the doubling) count per source across the cluster;</li>
 *   <li>the tarpit delays of one source queue behind each other, and a known-good (source, credential) pair
 *       recorded by {@link #succeeded} exempts that credential: everywhere, or on the node where they happened when
 *       the implementation documents it so (the tarpit is a brake, the ban the cluster-wide response);</li>
 *   <li>state is bounded: a caller spraying addresses cannot grow it without limit.</li>
 * </ul>
 */
public interface SourceGuard {
    /** The scope of a ban protecting the platform (attacks attributed to no tenant). */
    String PLATFORM = "";

    /** A ban on one source address; {@code scopes} are the tenants it protects ({@link #PLATFORM} for the platform). */
    record Ban(String id, String address, long sinceMs, long untilMs, String label, String reason, Set<String> scopes,
                      String alertId, int strike) {
        public Ban {
            scopes = Set.copyOf(scopes);
        }

        /** The one tenant this ban protects, or null when it protects the platform or several tenants. */
        public String tenantId() {
            return scopes.size() == 1 && !scopes.contains(PLATFORM) ? scopes.iterator().next() : null;
        }

        /** True for the pre-authentication refusal of a source whose tarpit is full (no stored ban). */
        public boolean tarpit() {
            return id.equals("tarpit");
        }
    }

    /**
     * The unit responses apply to: an IPv4 address, or an IPv6 /64 (one subscriber's network: an attacker
     * rotating addresses inside it stays one source).
     */
    static String sourceKey(String address) {
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

    /** How much delay the tarpit of one source holds at most (8 × the longest delay). */
    long backlogMs();

    /** The active ban on {@code address}, if any. */
    Optional<Ban> banned(String address);

    /**
     * Whether a connection from {@code address} presenting {@code credential} (a fingerprint, or null) may go
     * on to authentication: not banned and its tarpit not full, or a credential known good from this address.
     */
    Optional<Ban> refuse(String address, String credential);

    /** Records a successful authentication: this credential is known good from this address. */
    void succeeded(String address, String credential);

    /**
     * Records a failed authentication from {@code address}; returns how long to delay the refusal (ms),
     * counting the refusals of this source still waiting.
     */
    long failed(String address);

    /**
     * Bans {@code address} (or extends the scopes of its active ban by {@code tenantId}, null meaning the
     * platform); returns the ban.
     */
    Ban ban(String address, String label, String reason, String tenantId, String alertId);

    /** Lifts a ban by id; the lifted ban, if it was active. */
    Optional<Ban> lift(String id);

    /** Active bans, newest first. */
    List<Ban> active();

    /** Bans issued since start (by this node). */
    long bansIssued();

    /** Connections and requests refused because their source was banned (by this node). */
    long refusedWhileBanned();
}
