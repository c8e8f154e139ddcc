package dev.bulwark.server.monitor;

import dev.bulwark.protocol.DeviceId;
import dev.bulwark.protocol.InvalidIdException;
import dev.bulwark.protocol.TenantId;
import dev.bulwark.server.bus.EventBus;
import dev.bulwark.server.config.DetectionSettings;
import dev.bulwark.server.core.Clock;
import dev.bulwark.server.crypto.Secrets;
import dev.bulwark.server.device.DevicePrincipal;
import dev.bulwark.server.identity.AuthOutcome;
import java.nio.charset.StandardCharsets;
import java.security.GeneralSecurityException;
import java.security.cert.CertificateEncodingException;
import java.security.cert.X509Certificate;
import java.util.HexFormat;
import java.util.Map;
import java.util.Optional;
import java.util.concurrent.atomic.AtomicLong;
import javax.crypto.Mac;
import javax.crypto.spec.SecretKeySpec;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * The monitoring side of a node: every device authentication is reported here by the listeners (MQTT,
 * device HTTPS, EST); the bus carries it with the stored security events to the {@link Detector}, whose
 * alerts are stored, counted, logged and published on the bus (for the {@link Webhooks}); the
 * {@link SourceGuard} applies bans and the tarpit.
 */
public final class Monitor implements AutoCloseable {
    private static final Logger LOG = LoggerFactory.getLogger(Monitor.class);
    private static final Logger ALERTS = LoggerFactory.getLogger("bulwark.alerts");

    private final EventBus bus;
    private final Metrics metrics;
    private final SourceGuard guard;
    private final AlertStore alerts;
    private final Clock clock;
    private final ApiLogins logins;
    private final byte[] fingerprintKey;
    private final BoundedMap<String, long[]> bannedRecords = new BoundedMap<>(InProcessBans.MAX_SOURCES, 10_000, s -> s[0]);
    private final AtomicLong alertsRaised = new AtomicLong();
    private final java.util.concurrent.ScheduledExecutorService flusher = java.util.concurrent.Executors.newSingleThreadScheduledExecutor(r -> {
        Thread t = new Thread(r, "bulwark-alert-flush");
        t.setDaemon(true);
        return t;
    });

    private final SecurityEvents events;
    private final Map<String, String> lastAddress = java.util.Collections.synchronizedMap(new java.util.LinkedHashMap<>(1024, 0.75f, true) {
        @Override
        protected boolean removeEldestEntry(Map.Entry<String, String> eldest) {
            return size() > 500_000;
        }
    });

    /**
     * The monitor of a node, judging authentication attempts and security events from the moment it is built:
     * its detector remembers in {@code state}, bans through {@code guard}, and its alerts are stored in
     * {@code alerts} and published on {@code bus} (where the webhooks take them).
     */
    public Monitor(EventBus bus, Metrics metrics, SecurityEvents events, SourceGuard guard, DetectorState state, AlertStore alerts,
                   Clock clock, DetectionSettings settings) {
        this(bus, metrics, events, guard, state, alerts, clock, settings, null);
    }

    /**
     * A monitor whose credential fingerprints are keyed with {@code fingerprintKey} (32 bytes): the nodes of a cluster
     * share one, so that one secret presented to two nodes is one credential to the detector. Null: a random key
     * in memory only (a standalone node).
     */
    public Monitor(EventBus bus, Metrics metrics, SecurityEvents events, SourceGuard guard, DetectorState state, AlertStore alerts,
                   Clock clock, DetectionSettings settings, byte[] fingerprintKey) {
        this.fingerprintKey = fingerprintKey == null ? Secrets.randomBytes(32) : fingerprintKey.clone();
        this.bus = bus;
        this.events = events;
        this.metrics = metrics;
        this.guard = guard;
        this.alerts = alerts;
        this.clock = clock;
        Detector detector = new Detector(settings, state, guard, this::raised, bus);
        flusher.scheduleWithFixedDelay(detector::flush, 1, 1, java.util.concurrent.TimeUnit.SECONDS);
        this.logins = new ApiLogins(this);
    }

    private void raised(Alert a, boolean updated) {
        try {
            alerts.save(a, clock.nowMs(), updated);
        } catch (RuntimeException e) {
            LOG.error("cannot store alert {}: {}", a.id(), e.toString());
        }
        if (!updated) {
            alertsRaised.incrementAndGet();
            metrics.alert(a.label());
            ALERTS.warn("alert {} {} [{}] on {} (tenant {}): {} evidence={}", a.id(), a.label(), a.severity(), a.subject(), a.tenantId(),
                    a.action(), a.evidence());
            bus.publish(EventBus.Topics.ALERTS, a);
        }
    }

    public SourceGuard guard() {
        return guard;
    }

    public Metrics metrics() {
        return metrics;
    }

    public AlertStore alerts() {
        return alerts;
    }

    /** Operator API logins as the monitor sees them (the API listener reports its refusals here). */
    public ApiLogins logins() {
        return logins;
    }

    public EventBus bus() {
        return bus;
    }

    SecurityEvents events() {
        return events;
    }

    public long alertsRaised() {
        return alertsRaised.get();
    }

    /**
     * Reports an authentication outcome; returns how long to delay a refusal (the tarpit), 0 on success.
     *
     * @param username   the user name presented with a token (null for certificates)
     * @param credential the presented credential's fingerprint ({@link #fingerprint(byte[])} or {@link #fingerprint(X509Certificate[])})
     */
    public long attempt(AuthOutcome<DevicePrincipal> outcome, String username, String credential, String address, int port, String channel) {
        long now = clock.nowMs();
        if (outcome instanceof AuthOutcome.Authenticated<DevicePrincipal> ok) {
            DevicePrincipal p = ok.principal();
            guard.succeeded(address, credential);
            String identity = p.tenant() + "/" + p.device();
            String previous = address == null ? null : lastAddress.put(identity, address);
            if (previous != null && !previous.equals(address)) {
                // a notable success: the device now comes from elsewhere (moved, re-homed, or a copy of it)
                events.record(new SecurityEvent(now, p.tenant().value(), "new-source-address", "the device connected from an address "
                        + "it was not seen from last time", p.describe() + " previous-address:" + previous, address, port, channel, null));
            }
            bus.publish(EventBus.Topics.AUTH_ATTEMPTS, new AuthAttempt(now, p.tenant().value(), p.tenant() + "/" + p.device(), credential,
                    address, port, channel, true, "ok"));
            return 0;
        }
        AuthOutcome.Refused<DevicePrincipal> r = (AuthOutcome.Refused<DevicePrincipal>) outcome;
        return failed(r.tenantId(), identityKey(r.claimedIdentity(), username), credential, address, port, channel, r.reason());
    }

    /** Reports a refused authentication whose identity is already normalized; returns the tarpit delay. */
    public long failed(String tenantId, String identity, String credential, String address, int port, String channel, String reason) {
        // tenantId is set only when the identity resolved to a registered device of that tenant: a name the caller
        // merely claimed (x@T) attributes nothing to T, so that nobody can push alerts or bans into a tenant
        metrics.authenticationFailed(channel, reason);
        bus.publish(EventBus.Topics.AUTH_ATTEMPTS, new AuthAttempt(clock.nowMs(), tenantId, identity, credential, address, port, channel,
                false, reason));
        return guard.failed(address);
    }

    /**
     * Checks the source before authentication. When it is banned, returns the ban, and records the refusal
     * as a security event at most once per second per source (with the count of those not recorded
     * individually), so that a flood cannot flood the event store.
     */
    public Optional<SourceGuard.Ban> banned(String address, int port, String credential, String channel, SecurityEvents events) {
        Optional<SourceGuard.Ban> b = guard.refuse(address, credential);
        if (b.isEmpty()) {
            return b;
        }
        metrics.refused("source-banned");
        long now = clock.nowMs();
        long[] state = bannedRecords.computeIfAbsent(SourceGuard.sourceKey(address), a -> new long[2], now);
        long suppressed;
        synchronized (state) {
            if (now - state[0] < 1000) {
                state[1]++;
                return b;
            }
            suppressed = state[1];
            state[0] = now;
            state[1] = 0;
        }
        SourceGuard.Ban ban = b.get();
        events.record(new SecurityEvent(now, ban.tenantId(), ban.tarpit() ? "source-tarpit-full" : "source-banned", ban.tarpit()
                ? ban.reason() + ": refused before authentication until they are answered"
                : "the source is banned until " + java.time.Instant.ofEpochMilli(ban.untilMs()) + " (" + ban.label() + ")", null, address,
                port, channel, ban.id() + (suppressed > 0 ? "; " + suppressed + " more refusals from this source since the last record" : "")));
        return b;
    }

    /**
     * A keyed digest telling presented secrets apart without keeping them (the key lives in memory only, or, in a
     * cluster, in the shared data directory beside the other key material).
     */
    public String fingerprint(byte[] secret) {
        if (secret == null) {
            return null;
        }
        try {
            Mac mac = Mac.getInstance("HmacSHA256");
            mac.init(new SecretKeySpec(fingerprintKey, "HmacSHA256"));
            return "s:" + HexFormat.of().formatHex(mac.doFinal(secret), 0, 8);
        } catch (GeneralSecurityException e) {
            throw new IllegalStateException(e);
        }
    }

    public String fingerprint(String secret) {
        return secret == null ? null : fingerprint(secret.getBytes(StandardCharsets.UTF_8));
    }

    /** The leaf certificate's SHA-256 (first 16 hex digits); null without a certificate. */
    public static String fingerprint(X509Certificate[] chain) {
        if (chain == null || chain.length == 0) {
            return null;
        }
        try {
            return "c:" + Secrets.sha256Hex(chain[0].getEncoded()).substring(0, 16);
        } catch (CertificateEncodingException e) {
            return null;
        }
    }

    /**
     * The identity an attempt was about: {@code tenant/device} when it can be told (from the registry's
     * answer or from a {@code device@tenant} user name), the certificate subject otherwise.
     */
    public static String identityKey(String claimed, String username) {
        if (claimed != null && claimed.startsWith("device:")) {
            int sp = claimed.indexOf(' ');
            return claimed.substring(7, sp < 0 ? claimed.length() : sp);
        }
        String u = username != null ? username : claimed;
        if (u != null) {
            int at = u.lastIndexOf('@');
            if (at > 0) {
                try {
                    return TenantId.of(u.substring(at + 1)) + "/" + DeviceId.of(u.substring(0, at));
                } catch (InvalidIdException e) {
                    // not a device@tenant name: fall through
                }
            }
            if (claimed != null && claimed.startsWith("certificate subject=")) {
                int serial = claimed.indexOf(" serial=");
                return "cert:" + claimed.substring(20, serial < 0 ? claimed.length() : serial);
            }
            return "user:" + (u.length() > 100 ? u.substring(0, 100) : u);
        }
        return "anonymous";
    }

    /** Stops the detector's periodic flush (the bus, the webhooks and the stores belong to the node and are closed by it). */
    @Override
    public void close() {
        flusher.shutdownNow();
    }
}
