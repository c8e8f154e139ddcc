package dev.bulwark.server.monitor;

import com.fasterxml.jackson.core.JsonProcessingException;
import com.fasterxml.jackson.databind.ObjectMapper;
import dev.bulwark.protocol.TenantId;
import dev.bulwark.server.bus.EventBus;
import dev.bulwark.server.core.Clock;
import dev.bulwark.server.core.Refusal;
import java.io.IOException;
import java.io.StringReader;
import java.net.InetAddress;
import java.net.URI;
import java.net.UnknownHostException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.security.GeneralSecurityException;
import java.security.KeyStore;
import java.security.cert.X509Certificate;
import java.time.Duration;
import java.util.HexFormat;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.Executors;
import java.util.concurrent.ScheduledExecutorService;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicLong;
import javax.crypto.Mac;
import javax.crypto.spec.SecretKeySpec;
import javax.net.ssl.TrustManagerFactory;
import javax.net.ssl.X509TrustManager;
import org.bouncycastle.cert.X509CertificateHolder;
import org.bouncycastle.cert.jcajce.JcaX509CertificateConverter;
import org.bouncycastle.openssl.PEMParser;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Alert delivery to a tenant's webhooks.
 *
 * <p>Each delivery is an HTTPS {@code POST} of the alert as JSON with
 * {@code X-Bulwark-Signature: t=<unix seconds>,v1=<hex HMAC-SHA256(secret, "<t>.<body>")>}, so the receiver
 * can check origin, integrity and freshness with the secret it was shown once. Deliveries are retried with
 * exponential backoff (1, 2, 4, 8, 16 s) on a network error or a non-2xx answer.
 *
 * <p>Webhook URLs must be {@code https}, without user info; a host that resolves to a loopback, private,
 * link-local or multicast address is refused (at creation and again at each delivery, against DNS
 * rebinding) unless the node is explicitly configured to allow private targets: a webhook must not become
 * a way to reach inside the network. Each delivery resolves the host once, checks every address, and
 * connects to the address it checked (TLS still verifies the certificate against the host name, sent as
 * SNI): no second resolution between the check and the connection can redirect it.
 */
public final class Webhooks implements AutoCloseable {
    private static final Logger LOG = LoggerFactory.getLogger(Webhooks.class);
    private static final ObjectMapper JSON = new ObjectMapper();
    static final int ATTEMPTS = 6;

    private final WebhookStore store;
    private final Clock clock;
    private final boolean allowPrivate;
    private final io.vertx.core.http.HttpClient http;
    private final ScheduledExecutorService retries = Executors.newSingleThreadScheduledExecutor(r -> {
        Thread t = new Thread(r, "bulwark-webhooks");
        t.setDaemon(true);
        return t;
    });
    private final AtomicLong delivered = new AtomicLong();
    private final AtomicLong failed = new AtomicLong();

    private final Resolver resolver;

    /** Name resolution, the one step between a webhook's host and the address a delivery connects to. */
    @FunctionalInterface
    interface Resolver {
        InetAddress[] resolve(String host) throws UnknownHostException;
    }

    /**
     * Alert delivery from the moment it is built: the alerts published on {@code bus} that are attributed to a
     * tenant go to that tenant's webhooks in {@code store}.
     */
    public Webhooks(WebhookStore store, Clock clock, boolean allowPrivate, Path extraTrust, io.vertx.core.Vertx vertx, EventBus bus) {
        this(store, clock, allowPrivate, extraTrust, vertx, bus, InetAddress::getAllByName);
    }

    Webhooks(WebhookStore store, Clock clock, boolean allowPrivate, Path extraTrust, io.vertx.core.Vertx vertx, EventBus bus,
             Resolver resolver) {
        this.store = java.util.Objects.requireNonNull(store, "store");
        this.clock = clock;
        this.allowPrivate = allowPrivate;
        this.resolver = resolver;
        this.http = vertx.createHttpClient(new io.vertx.core.http.HttpClientOptions()
                .setVerifyHost(true).setForceSni(true).setConnectTimeout(5000).setIdleTimeout(10)
                .setEnabledSecureTransportProtocols(java.util.Set.of("TLSv1.2", "TLSv1.3"))
                .setTrustOptions(io.vertx.core.net.TrustOptions.wrap(trust(extraTrust))));
        bus.subscribe(EventBus.Topics.ALERTS, e -> {
            if (e instanceof Alert a && a.tenantId() != null) {
                deliver(a);
            }
        });
    }

    /** Registers a webhook; returns it and its signing secret (shown once). */
    public Map<String, Object> create(org.jdbi.v3.core.Handle h, TenantId tenant, URI uri, String createdBy) {
        WebhookStore.Created created = store.create(h, tenant, uri.toString(), createdBy);
        Map<String, Object> out = view(created.webhook());
        out.put("secret", created.secret());
        return out;
    }

    public List<Map<String, Object>> list(TenantId tenant) {
        return store.list(tenant).stream().map(Webhooks::view).toList();
    }

    public boolean delete(org.jdbi.v3.core.Handle h, TenantId tenant, String id) {
        return store.delete(h, tenant, id);
    }

    private static Map<String, Object> view(WebhookStore.Webhook w) {
        Map<String, Object> m = new LinkedHashMap<>();
        m.put("id", w.id());
        m.put("url", w.url());
        m.put("created", java.time.Instant.ofEpochMilli(w.createdMs()).toString());
        m.put("createdBy", w.createdBy());
        m.put("signature", "X-Bulwark-Signature: t=<unix seconds>,v1=<hex HMAC-SHA256(secret, \"<t>.<body>\")>");
        return m;
    }

    /** Parses and checks a webhook URL; a {@link Refusal} says why it is not acceptable. */
    public URI check(String url) {
        URI uri;
        try {
            uri = new URI(url);
        } catch (java.net.URISyntaxException | NullPointerException e) {
            throw Refusal.invalid("url is not a valid URL");
        }
        if (!"https".equalsIgnoreCase(uri.getScheme()) || uri.getHost() == null) {
            throw Refusal.invalid("url must be an https:// URL with a host");
        }
        if (uri.getRawUserInfo() != null) {
            throw Refusal.invalid("url must not carry user info; the signature authenticates the sender");
        }
        if (url.length() > 2000) {
            throw Refusal.invalid("url is longer than 2000 characters");
        }
        checkTarget(uri.getHost());
        return uri;
    }

    /** Resolves {@code host} once and checks every address; returns the one to connect to. */
    private InetAddress checkTarget(String host) {
        InetAddress[] all;
        try {
            all = resolver.resolve(host);
        } catch (UnknownHostException e) {
            throw Refusal.invalid("url host cannot be resolved");
        }
        if (all == null || all.length == 0) {
            throw Refusal.invalid("url host cannot be resolved");
        }
        if (!allowPrivate) {
            for (InetAddress a : all) {
                if (internal(a)) {
                    throw Refusal.invalid("url resolves to a private or loopback address; webhooks go to public receivers only");
                }
            }
        }
        return all[0];
    }

    /** Loopback, private, link-local, shared (CGNAT), benchmark, reserved, multicast, ULA, and IPv6 forms embedding IPv4. */
    static boolean internal(InetAddress a) {
        if (a.isLoopbackAddress() || a.isSiteLocalAddress() || a.isLinkLocalAddress() || a.isAnyLocalAddress() || a.isMulticastAddress()) {
            return true;
        }
        byte[] b = a.getAddress();
        if (b.length == 4) {
            int o0 = b[0] & 0xff;
            int o1 = b[1] & 0xff;
            return o0 == 0 || (o0 == 100 && o1 >= 64 && o1 < 128) || (o0 == 198 && (o1 == 18 || o1 == 19))
                    || (o0 == 192 && o1 == 0 && (b[2] & 0xff) == 0) || o0 >= 240;
        }
        if ((b[0] & 0xfe) == 0xfc) {
            return true; // fc00::/7 unique local
        }
        boolean zero12 = true;
        for (int i = 0; i < 12; i++) {
            zero12 &= b[i] == 0;
        }
        boolean nat64 = (b[0] & 0xff) == 0x00 && (b[1] & 0xff) == 0x64 && (b[2] & 0xff) == 0xff && (b[3] & 0xff) == 0x9b;
        boolean sixToFour = (b[0] & 0xff) == 0x20 && (b[1] & 0xff) == 0x02;
        if (zero12 || nat64) {
            return internal4(new byte[] {b[12], b[13], b[14], b[15]});
        }
        if (sixToFour) {
            return internal4(new byte[] {b[2], b[3], b[4], b[5]});
        }
        return false;
    }

    private static boolean internal4(byte[] v4) {
        try {
            return internal(InetAddress.getByAddress(v4));
        } catch (UnknownHostException e) {
            return true;
        }
    }

    void deliver(Alert a) {
        List<WebhookStore.Target> hooks = store.targets(a.tenantId());
        if (hooks.isEmpty()) {
            return;
        }
        Map<String, Object> body = new LinkedHashMap<>();
        body.put("type", "alert");
        body.put("id", a.id());
        body.put("time", java.time.Instant.ofEpochMilli(a.timeMs()).toString());
        body.put("tenant", a.tenantId());
        body.put("label", a.label());
        body.put("severity", a.severity());
        body.put("subject", a.subject());
        body.put("evidence", a.evidence());
        body.put("recommendedAction", a.action());
        byte[] bytes;
        try {
            bytes = JSON.writeValueAsBytes(body);
        } catch (JsonProcessingException e) {
            return;
        }
        for (WebhookStore.Target hook : hooks) {
            attempt(URI.create(hook.url()), hook.secret(), bytes, a.id(), 0);
        }
    }

    private void attempt(URI uri, String secret, byte[] body, String alertId, int n) {
        InetAddress checked;
        try {
            checked = checkTarget(uri.getHost());
        } catch (Refusal r) {
            LOG.warn("webhook {} not called for alert {}: {}", uri.getHost(), alertId, r.reason());
            failed.incrementAndGet();
            return;
        }
        long t = clock.nowMs() / 1000;
        int port = uri.getPort() < 0 ? 443 : uri.getPort();
        String path = (uri.getRawPath() == null || uri.getRawPath().isEmpty() ? "/" : uri.getRawPath())
                + (uri.getRawQuery() == null ? "" : "?" + uri.getRawQuery());
        io.vertx.core.http.RequestOptions req = new io.vertx.core.http.RequestOptions()
                .setMethod(io.vertx.core.http.HttpMethod.POST).setSsl(true).setHost(uri.getHost()).setPort(port).setURI(path)
                // connect to the address that was checked, not to whatever the name resolves to by now
                .setServer(io.vertx.core.net.SocketAddress.inetSocketAddress(port, checked.getHostAddress()))
                .setFollowRedirects(false).setIdleTimeout(10_000)
                .putHeader("Content-Type", "application/json").putHeader("User-Agent", "Bulwark-Webhooks")
                .putHeader("X-Bulwark-Event", "alert").putHeader("X-Bulwark-Delivery", alertId)
                .putHeader("X-Bulwark-Signature", "t=" + t + ",v1=" + sign(secret, t, body));
        http.request(req)
                .compose(r -> r.send(io.vertx.core.buffer.Buffer.buffer(body)))
                .compose(resp -> resp.end().map(v -> resp.statusCode()))
                .onComplete(ar -> {
                    if (ar.succeeded() && ar.result() / 100 == 2) {
                        delivered.incrementAndGet();
                        return;
                    }
                    String why = ar.failed() ? ar.cause().getClass().getSimpleName() : "HTTP " + ar.result();
                    if (n + 1 >= ATTEMPTS) {
                        failed.incrementAndGet();
                        LOG.warn("webhook {} gave up on alert {} after {} attempts ({})", uri.getHost(), alertId, ATTEMPTS, why);
                        return;
                    }
                    retries.schedule(() -> attempt(uri, secret, body, alertId, n + 1), 1L << n, TimeUnit.SECONDS);
                });
    }

    /** The signature of a delivery: hex HMAC-SHA256 over {@code "<t>.<body>"}. */
    public static String sign(String secret, long unixSeconds, byte[] body) {
        try {
            Mac mac = Mac.getInstance("HmacSHA256");
            mac.init(new SecretKeySpec(secret.getBytes(StandardCharsets.UTF_8), "HmacSHA256"));
            mac.update((unixSeconds + ".").getBytes(StandardCharsets.US_ASCII));
            return HexFormat.of().formatHex(mac.doFinal(body));
        } catch (GeneralSecurityException e) {
            throw new IllegalStateException(e);
        }
    }

    public long delivered() {
        return delivered.get();
    }

    public long failedDeliveries() {
        return failed.get();
    }

    /** The JDK's trusted CAs, plus those in {@code extra} (PEM) when given. */
    private static TrustManagerFactory trust(Path extra) {
        try {
            TrustManagerFactory jdk = TrustManagerFactory.getInstance(TrustManagerFactory.getDefaultAlgorithm());
            jdk.init((KeyStore) null);
            KeyStore ks = KeyStore.getInstance("PKCS12");
            ks.load(null, null);
            int i = 0;
            for (var tm : jdk.getTrustManagers()) {
                if (tm instanceof X509TrustManager x) {
                    for (X509Certificate c : x.getAcceptedIssuers()) {
                        ks.setCertificateEntry("jdk-" + i++, c);
                    }
                }
            }
            if (extra != null) {
                try (PEMParser p = new PEMParser(new StringReader(Files.readString(extra)))) {
                    Object o;
                    while ((o = p.readObject()) != null) {
                        if (o instanceof X509CertificateHolder h) {
                            ks.setCertificateEntry("extra-" + i++, new JcaX509CertificateConverter().getCertificate(h));
                        }
                    }
                }
            }
            TrustManagerFactory tmf = TrustManagerFactory.getInstance(TrustManagerFactory.getDefaultAlgorithm());
            tmf.init(ks);
            return tmf;
        } catch (GeneralSecurityException | IOException e) {
            throw new IllegalStateException("cannot set up TLS for webhooks: " + e.getMessage(), e);
        }
    }

    @Override
    public void close() {
        retries.shutdownNow();
    }
}
