package dev.bulwark.server.monitor;

import java.util.Optional;
import java.util.Set;

/**
 * The operator API's logins as the monitor sees them: a refused bearer token feeds the detector (brute-force,
 * enumeration) and the tarpit like a refused device, keyed by the source address; a banned source is refused.
 *
 * <p>Never locking an operator out from their usual address: a successful login records the pair (source,
 * operator) as known good, and a ban of that source (earned by failures under other names or tokens, such as an
 * attacker behind the same NAT) does not apply to that operator there. A new address of an operator has no
 * such standing: while it is banned, the operator is refused there too (the answer does not tell whether the
 * token was valid, so a ban is no oracle). Requests without any {@code Authorization} header are recorded but
 * are no guess and do not count.
 */
public final class ApiLogins {
    /** What to answer a refused login: after {@code delayMs}; 403 with {@code banned} as reason when set, else 401. */
    public record Verdict(long delayMs, String banned) {
    }

    private static final Set<String> NO_GUESS = Set.of("missing");
    private final Monitor monitor;

    ApiLogins(Monitor monitor) {
        this.monitor = java.util.Objects.requireNonNull(monitor, "monitor");
    }

    /** A valid token from {@code address}: null to go on, or the reason the source is refused (answer 403). */
    public String succeeded(String actor, String address, int port) {
        if (address == null) {
            return null;
        }
        String credential = "op:" + actor;
        Optional<SourceGuard.Ban> ban = monitor.banned(address, port, credential, "api", monitor.events());
        if (ban.isPresent()) {
            return reason(ban.get());
        }
        monitor.guard().succeeded(address, credential);
        return null;
    }

    /**
     * A refused token: feeds the detector and the tarpit; returns the delay before the answer, and the ban
     * when the source is banned (then answered at once, 403).
     */
    public Verdict failed(String reason, String claimedIdentity, String authorization, String address, int port) {
        if (address == null) {
            return new Verdict(0, null);
        }
        Optional<SourceGuard.Ban> ban = monitor.banned(address, port, null, "api", monitor.events());
        if (ban.isPresent()) {
            return new Verdict(0, reason(ban.get()));
        }
        if (NO_GUESS.contains(reason)) {
            return new Verdict(0, null);
        }
        String credential = monitor.fingerprint(authorization);
        // a token that names nothing (malformed) is told apart by its fingerprint: many of them from one source are
        // an enumeration, the same one again and again a misconfigured client
        String identity = "api:" + (claimedIdentity != null ? claimedIdentity : reason + ":" + credential);
        long delay = monitor.failed(tenantOf(claimedIdentity), identity, credential, address, port, "api", reason);
        return new Verdict(delay, null);
    }

    /**
     * The tenant of an existing operator token the caller presented with a wrong secret (or expired, revoked):
     * {@code operator:<tenant>/<name> token:<id>} comes from the registry, so the detector's alerts about it are
     * the tenant's; null for platform operators and for tokens that exist nowhere.
     */
    static String tenantOf(String claimedIdentity) {
        if (claimedIdentity == null || !claimedIdentity.startsWith("operator:")) {
            return null;
        }
        int slash = claimedIdentity.indexOf('/');
        String scope = slash < 0 ? null : claimedIdentity.substring(9, slash);
        return scope == null || scope.isEmpty() || scope.equals(dev.bulwark.server.identity.OperatorPrincipal.PLATFORM_SCOPE) ? null : scope;
    }

    private static String reason(SourceGuard.Ban b) {
        return b.tarpit() ? "too many failed logins from your address: retry later"
                : "your address is banned until " + java.time.Instant.ofEpochMilli(b.untilMs()) + " after failed logins (" + b.label() + ")";
    }
}
