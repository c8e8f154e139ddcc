package dev.bulwark.server.monitor;

import dev.bulwark.server.bus.EventBus;
import dev.bulwark.server.config.DetectionSettings;
import dev.bulwark.server.monitor.DetectorState.Failure;
import dev.bulwark.server.monitor.DetectorState.Mark;
import java.util.Collection;
import java.util.LinkedHashMap;
import java.util.Map;
import java.util.Set;
import java.util.TreeMap;
import java.util.TreeSet;
import java.util.List;
import java.util.function.Function;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Tells devices that retry from attackers, over sliding windows per identity and per source address.
 *
 * <table>
 *   <caption>labels</caption>
 *   <tr><th>label</th><th>pattern</th><th>response</th></tr>
 *   <tr><td>{@code retry}</td><td>a valid identity connecting again (after a network loss, a reboot)</td><td>none</td></tr>
 *   <tr><td>{@code misconfigured-device}</td><td>one identity failing again and again with one and the same
 *       credential (expired or revoked certificate, old token), from one source</td><td>tarpit only</td></tr>
 *   <tr><td>{@code brute-force}</td><td>many different secrets against one identity</td><td>ban the sources</td></tr>
 *   <tr><td>{@code enumeration}</td><td>many identities that exist nowhere failing from one source</td><td>ban the source</td></tr>
 *   <tr><td>{@code credential-stuffing}</td><td>one source guessing (a secret that is no credential of the identity:
 *       unknown, wrong or malformed token, unregistered certificate) against many registered identities, a few guesses
 *       each; one alert per tenant concerned, showing only its identities</td><td>ban the source</td></tr>
 *   <tr><td>{@code distributed-attack}</td><td>one identity failing from many sources</td><td>ban the sources</td></tr>
 *   <tr><td>{@code cloned-device}</td><td>one identity taking its session over from different sources, back and
 *       forth</td><td>recommend quarantine (which copy is genuine is for a person to decide)</td></tr>
 *   <tr><td>{@code flooding}</td><td>message rate or size violations by one identity</td><td>the limits already
 *       refuse; recommend investigation</td></tr>
 * </table>
 *
 * <p>Time comes from the events themselves, so the windows follow the node's clock. An alert for the same
 * label and subject is raised once per window; while it is open its evidence is updated. The detector
 * never refuses anyone by identity.
 *
 * <p>Memory: what the detector remembers is in its {@link DetectorState}, bounded there, so a caller spraying
 * identities or source addresses cannot grow it without limit.
 */
public final class Detector {
    private static final Logger LOG = LoggerFactory.getLogger(Detector.class);

    /** Where alerts go: storage, the bus, metrics. */
    public interface Sink {
        void raised(Alert alert, boolean updated);
    }

    /**
     * Refusal reasons meaning the presented secret is no credential of the named identity (a guess), as
     * opposed to a real credential that stopped working (expired, revoked: a misconfigured device).
     */
    static final Set<String> GUESSES = Set.of("token-unknown", "token-wrong-secret", "token-malformed", "certificate-unregistered");
    static final int MAX_KEYS = 200_000;
    private static final Set<String> JUDGED_EVENTS = Set.of("duplicate-identity", "rate-exceeded", "payload-too-large",
            "tenant-rate-exceeded");

    private final DetectionSettings settings;
    private final SourceGuard guard;
    private final Sink sink;
    private final DetectorState state;
    private final Map<String, Long> written = new LinkedHashMap<>(1024, 0.75f, true) {
        @Override
        protected boolean removeEldestEntry(Map.Entry<String, Long> eldest) {
            return size() > MAX_KEYS;
        }
    };
    private final Map<String, Alert> pending = new LinkedHashMap<>();

    /**
     * A detector judging the authentication attempts and security events on {@code bus}, from the moment it is
     * built, with what it remembers in {@code state}; it bans through {@code guard} and raises alerts to
     * {@code sink}.
     */
    public Detector(DetectionSettings settings, DetectorState state, SourceGuard guard, Sink sink, EventBus bus) {
        this.settings = settings;
        this.state = state;
        this.guard = guard;
        this.sink = sink;
        // what the detector judges goes through its state's route: straight back here in-process; in a cluster,
        // through one stream every node folds in the same order (the state calls onAttempt / onEvent back)
        DetectorState.Judge route = state.route(new DetectorState.Judge() {
            @Override
            public void attempt(AuthAttempt a) {
                onAttempt(a);
            }

            @Override
            public void event(SecurityEvent e) {
                onEvent(e);
            }
        });
        bus.subscribe(EventBus.Topics.AUTH_ATTEMPTS, e -> {
            if (e instanceof AuthAttempt a && judged(a)) {
                route.attempt(a);
            }
        });
        bus.subscribe(EventBus.Topics.SECURITY_EVENTS, e -> {
            if (e instanceof SecurityEvent s && judged(s)) {
                route.event(s);
            }
        });
    }

    /** Whether the detector looks at {@code a}: every failure, and the successes of MQTT sessions (retries, clones). */
    static boolean judged(AuthAttempt a) {
        return !a.success() || "mqtt".equals(a.channel());
    }

    /** Whether the detector looks at {@code e}: takeovers and limit violations of a device. */
    static boolean judged(SecurityEvent e) {
        return JUDGED_EVENTS.contains(e.type()) && identityOf(e.identity()) != null;
    }

    /** How many identities and sources the detector tracks now (each bounded by {@link #MAX_KEYS}). */
    synchronized int tracked() {
        return state.tracked();
    }

    /** Writes the evidence updates held back by the once-per-second rule. */
    public synchronized void flush() {
        for (Alert a : pending.values()) {
            written.put(a.id(), System.currentTimeMillis());
            sink.raised(a, true);
        }
        pending.clear();
    }

    synchronized void onAttempt(AuthAttempt a) {
        long now = a.timeMs();
        if (a.success()) {
            if (!"mqtt".equals(a.channel())) {
                return; // an HTTPS request is no session: posting every few seconds is not reconnecting
            }
            Mark previous = state.connected(a.identity(), new Mark(now, a.sourceAddress(), a.tenantId()));
            if (previous != null) {
                retry(a, previous);
            }
            return;
        }
        Failure f = new Failure(now, a.identity(), a.credential(), a.sourceAddress(), a.reason(), a.tenantId());
        Collection<Failure> id = state.identityFailure(a.identity(), f);
        Collection<Failure> src = a.sourceAddress() == null ? List.of() : state.sourceFailure(a.sourceAddress(), f);

        Set<String> sources = distinct(id, Failure::source);
        Set<String> secrets = distinct(id, Failure::credential);
        if (sources.size() >= settings.distributedSources()) {
            Alert alert = raise("distributed-attack", "critical", a.identity(), a.tenantId(), now, evidence(id, sources, secrets, null),
                    "the sources are banned temporarily; the device keeps connecting with its own credential. If the attack goes on, "
                            + "rotate the device's credential and block the sources upstream");
            for (String s : sources) {
                banned(s, alert, a.identity());
            }
        } else if (secrets.size() >= settings.bruteForceSecrets()) {
            Alert alert = raise("brute-force", "critical", a.identity(), a.tenantId(), now, evidence(id, sources, secrets, null),
                    "the source is banned temporarily; the device keeps connecting with its own credential. Check that the identity's "
                            + "credential is strong and was not leaked");
            for (String s : sources) {
                banned(s, alert, a.identity());
            }
        } else if (id.size() >= settings.misconfiguredRepeats() && secrets.size() == 1 && sources.size() == 1) {
            raise("misconfigured-device", "warning", a.identity(), a.tenantId(), now, evidence(id, sources, secrets, null),
                    "re-provision the device: it keeps presenting a credential that no longer works (" + a.reason() + ")");
        }

        // Enumeration counts identities the source does not hold: names that resolved to no registered device.
        // Registered devices failing together (a batch of certificates expiring behind one NAT) are not an enumeration.
        Set<String> identities = new TreeSet<>();
        for (Failure x : src) {
            if (x.tenantId() == null && x.identity() != null) {
                identities.add(x.identity());
            }
        }
        if (a.sourceAddress() != null && identities.size() >= settings.enumerationIds()) {
            Map<String, Object> ev = evidence(src, Set.of(a.sourceAddress()), null, identities);
            Alert alert = raise("enumeration", "critical", a.sourceAddress(), null, now, ev,
                    "the source is banned temporarily; it tries identities it does not hold. Block it upstream if it returns");
            banned(a.sourceAddress(), alert, null);
        }
        stuffing(a, src, now);
    }

    /**
     * Credential stuffing: guesses from one source against registered identities (attributed to a tenant).
     * Devices behind one NAT retrying with an expired or revoked credential are no guesses and do not count.
     */
    private void stuffing(AuthAttempt a, Collection<Failure> src, long now) {
        if (a.sourceAddress() == null || a.tenantId() == null || !GUESSES.contains(a.reason())) {
            return;
        }
        Map<String, Set<String>> byTenant = new TreeMap<>();
        int total = 0;
        int guesses = 0;
        for (Failure x : src) {
            if (x.tenantId() != null && x.identity() != null && GUESSES.contains(x.reason())) {
                guesses++;
                if (byTenant.computeIfAbsent(x.tenantId(), t -> new TreeSet<>()).add(x.identity())) {
                    total++;
                }
            }
        }
        if (total < settings.enumerationIds()) {
            return;
        }
        // one alert per tenant concerned, each showing only that tenant's identities; the ban protects them all
        for (Map.Entry<String, Set<String>> t : byTenant.entrySet()) {
            Map<String, Object> ev = new LinkedHashMap<>();
            ev.put("guesses", guesses);
            ev.put("sources", List.of(a.sourceAddress()));
            ev.put("identities", t.getValue().stream().limit(50).toList());
            ev.put("distinctIdentities", t.getValue().size());
            ev.put("distinctIdentitiesAllTenants", total);
            ev.put("windowSeconds", settings.window().toSeconds());
            Alert alert = raise("credential-stuffing", "critical", a.sourceAddress(), t.getKey(), now, ev,
                    "the source is banned temporarily; it tries secrets against many of your devices' identities (leaked or "
                            + "guessed credentials). Check that the devices' credentials were not leaked, and block the source upstream");
            banned(a.sourceAddress(), alert, null);
        }
    }

    synchronized void onEvent(SecurityEvent e) {
        long now = e.timeMs();
        String identity = identityOf(e.identity());
        if (identity == null) {
            return;
        }
        switch (e.type()) {
            case "duplicate-identity" -> {
                // A device whose old connection went stale (a flaky network, a NAT that forgot it) takes over its own
                // session from the same address: that is a retry. A clone takes it over from somewhere else.
                String previous = address(previousSource(e.identity()));
                if (previous == null || previous.equals(e.sourceAddress())) {
                    return;
                }
                Collection<Mark> q = state.takeover(identity, new Mark(now, e.sourceAddress(), e.tenantId()));
                Set<String> addresses = new TreeSet<>();
                q.forEach(m -> addresses.add(m.source()));
                addresses.add(previous);
                if (q.size() >= settings.cloneTakeovers() && addresses.size() >= 2) {
                    Map<String, Object> ev = new LinkedHashMap<>();
                    ev.put("takeovers", q.size());
                    ev.put("sources", addresses);
                    ev.put("windowSeconds", settings.window().toSeconds());
                    raise("cloned-device", "critical", identity, e.tenantId(), now, ev,
                            "quarantine the device (POST /api/v1/devices/{id}/quarantine with revokeCredentials) and find out which "
                                    + "copy is genuine: one identity is in use from two places");
                }
            }
            case "rate-exceeded", "payload-too-large", "tenant-rate-exceeded" -> {
                Collection<Mark> q = state.violation(identity, new Mark(now, e.sourceAddress(), e.tenantId()));
                if (q.size() >= settings.floodingViolations()) {
                    Map<String, Object> ev = new LinkedHashMap<>();
                    ev.put("violations", q.size());
                    ev.put("last", e.type() + ": " + e.reason());
                    ev.put("windowSeconds", settings.window().toSeconds());
                    raise("flooding", "warning", identity, e.tenantId(), now, ev,
                            "the limits refuse the excess; check the device's firmware, and quarantine it if the abuse goes on");
                }
            }
            default -> {
            }
        }
    }

    private void retry(AuthAttempt a, Mark previous) {
        String subject = "tenant:" + (a.tenantId() == null ? "-" : a.tenantId());
        String key = "retry|" + subject + "|" + a.tenantId();
        Alert current = state.openAlert(key, a.timeMs());
        Set<String> ids = state.retrying(a.tenantId() == null ? "" : a.tenantId(), a.identity(),
                current == null || current.timeMs() < a.timeMs() - settings.window().toMillis());
        Map<String, Object> ev = new LinkedHashMap<>();
        ev.put("identities", ids.size());
        ev.put("sample", ids.stream().limit(20).toList());
        ev.put("sameSource", previous.source() != null && previous.source().equals(a.sourceAddress()));
        ev.put("windowSeconds", settings.window().toSeconds());
        raise("retry", "info", subject, a.tenantId(), a.timeMs(), ev,
                "none: valid devices reconnecting (network loss, restart); watch the device's connectivity if it repeats");
    }

    private void banned(String source, Alert alert, String identity) {
        if (source == null || !state.acting()) {
            return;
        }
        boolean already = guard.banned(source).isPresent();
        SourceGuard.Ban b = guard.ban(source, alert.label(), alert.label() + (identity == null ? "" : " on " + identity), alert.tenantId(),
                alert.id());
        if (!already) {
            LOG.warn("banned source {} for {} s ({} , strike {})", source, (b.untilMs() - b.sinceMs()) / 1000, alert.label(), b.strike());
        }
    }

    /** Raises an alert, or updates the open one with the same label and subject. */
    private Alert raise(String label, String severity, String subject, String tenantId, long now, Map<String, Object> evidence,
                        String action) {
        String key = label + "|" + subject + "|" + tenantId;
        Alert current = state.openAlert(key, now);
        boolean update = current != null && current.timeMs() >= now - settings.window().toMillis();
        Alert a = new Alert(update ? current.id() : state.newAlertId(key), update ? current.timeMs() : now, tenantId, label,
                severity, subject, evidence, action);
        state.opened(key, a, now);
        if (!state.acting()) {
            return a; // the event was reported on another node: that node raises (or updates) the alert
        }
        // new alerts go out at once; updates of an open alert's evidence at most once per second (no write storm in a crowd)
        long wall = System.currentTimeMillis();
        Long last = written.get(a.id());
        if (!update || last == null || wall - last >= 1000) {
            written.put(a.id(), wall);
            sink.raised(a, update);
        } else {
            pending.put(a.id(), a);
        }
        return a;
    }

    private Map<String, Object> evidence(Collection<Failure> q, Set<String> sources, Set<String> secrets, Set<String> identities) {
        Map<String, Object> ev = new LinkedHashMap<>();
        ev.put("failures", q.size());
        ev.put("sources", sources.stream().limit(50).toList());
        ev.put("distinctSources", sources.size());
        if (secrets != null) {
            ev.put("distinctSecrets", secrets.size());
        }
        if (identities != null) {
            ev.put("identities", identities.stream().limit(50).toList());
            ev.put("distinctIdentities", identities.size());
        }
        ev.put("reasons", distinct(q, Failure::reason));
        ev.put("windowSeconds", settings.window().toSeconds());
        return ev;
    }

    private static <T> Set<String> distinct(Collection<T> q, Function<T, String> f) {
        Set<String> out = new TreeSet<>();
        for (T t : q) {
            String v = f.apply(t);
            if (v != null) {
                out.add(v);
            }
        }
        return out;
    }

    /** {@code device:tenant/dev …} → {@code tenant/dev}; null when the event names no device. */
    static String identityOf(String identity) {
        if (identity == null || !identity.startsWith("device:")) {
            return null;
        }
        int sp = identity.indexOf(' ');
        return identity.substring(7, sp < 0 ? identity.length() : sp);
    }

    /** {@code host:port} as the MQTT listener writes it ({@code 192.0.2.1:1234}, {@code 2001:db8::1:1234}) → the host. */
    static String address(String endpoint) {
        if (endpoint == null || endpoint.isEmpty()) {
            return null;
        }
        int colon = endpoint.lastIndexOf(':');
        return colon > 0 ? endpoint.substring(0, colon) : endpoint;
    }

    private static String previousSource(String identity) {
        if (identity == null) {
            return null;
        }
        int i = identity.indexOf("previous-source:");
        if (i < 0) {
            return null;
        }
        int end = identity.indexOf(' ', i);
        return identity.substring(i + 16, end < 0 ? identity.length() : end);
    }
}
