package dev.bulwark.app.sim;

import com.fasterxml.jackson.databind.node.ObjectNode;
import dev.bulwark.device.Backoff;
import dev.bulwark.device.BulwarkDevice;
import dev.bulwark.device.CredentialFiles;
import dev.bulwark.device.DeviceTls;
import dev.bulwark.protocol.DeviceId;
import java.net.URI;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.security.cert.X509Certificate;
import java.time.Duration;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.Executors;
import java.util.concurrent.ScheduledExecutorService;
import java.util.concurrent.ScheduledFuture;
import java.util.concurrent.ThreadLocalRandom;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicLong;

/**
 * A simulated fleet on the real paths: the simulator registers devices over the operator REST API (as a
 * fleet operator would), each device makes its own key and enrolls over EST with a one-time token, then
 * runs an SDK session sending telemetry, applying configuration and answering commands.
 *
 * <p>Fault injection, for the detection scenarios: a share of the fleet loses its network now and then
 * ({@code flakyShare}); some devices carry a certificate that has expired ({@code expired}) or was revoked
 * ({@code revoked}) and keep retrying with it; some identities run on two devices at once ({@code clones}).
 *
 * <p>A second run with the same state directory reuses the devices and their stored credentials.
 */
public final class FleetSimulator implements AutoCloseable {

    /** What to simulate and where the backend is. */
    public record Settings(URI api, String operatorToken, Path trustAnchor, URI est, URI mqtt, Path stateDir, int devices,
                           double ratePerDevice, String prefix, String model, double flakyShare, int expired, int revoked, int clones,
                           Backoff backoff) {
        public Settings {
            if (devices < 0 || devices > 100_000) {
                throw new IllegalArgumentException("devices must be between 0 and 100000");
            }
            if (!(ratePerDevice > 0) || ratePerDevice > 1000) {
                throw new IllegalArgumentException("rate must be above 0 and at most 1000 messages per second per device");
            }
            if (flakyShare < 0 || flakyShare > 1) {
                throw new IllegalArgumentException("the flaky share is between 0 and 1");
            }
            if (clones > devices) {
                throw new IllegalArgumentException("there cannot be more clones than devices");
            }
            if (!DeviceIdPrefix.valid(prefix)) {
                throw new IllegalArgumentException("prefix must be 1-40 characters of [A-Za-z0-9._-]");
            }
        }

        /** A healthy fleet of {@code devices} at {@code ratePerDevice} messages per second each, no faults. */
        public static Settings healthy(URI api, String operatorToken, Path trustAnchor, URI est, URI mqtt, Path stateDir, int devices,
                                       double ratePerDevice) {
            return new Settings(api, operatorToken, trustAnchor, est, mqtt, stateDir, devices, ratePerDevice, "sim", "thermo", 0, 0, 0, 0,
                    Backoff.standard());
        }

        public Settings withFaults(double flaky, int expiredDevices, int revokedDevices, int clonedDevices) {
            return new Settings(api, operatorToken, trustAnchor, est, mqtt, stateDir, devices, ratePerDevice, prefix, model, flaky,
                    expiredDevices, revokedDevices, clonedDevices, backoff);
        }

        public Settings withNames(String devicePrefix, String deviceModel) {
            return new Settings(api, operatorToken, trustAnchor, est, mqtt, stateDir, devices, ratePerDevice, devicePrefix, deviceModel,
                    flakyShare, expired, revoked, clones, backoff);
        }

        public Settings withBackoff(Backoff b) {
            return new Settings(api, operatorToken, trustAnchor, est, mqtt, stateDir, devices, ratePerDevice, prefix, model, flakyShare,
                    expired, revoked, clones, b);
        }
    }

    private static final class DeviceIdPrefix {
        static boolean valid(String p) {
            return p != null && p.matches("[A-Za-z0-9._-]{1,40}");
        }
    }

    /** One simulated device and the role it plays. */
    public record SimDevice(String id, String role, BulwarkDevice device) {
    }

    /** Totals over the fleet. */
    public record Summary(int devices, int connected, long acknowledged, long dropped, long buffered, long connects, long connectFailures,
                          long renewals, long configsApplied, long commandsHandled) {
        @Override
        public String toString() {
            return String.format(Locale.ROOT, "%d/%d connected, %d messages stored, %d buffered, %d dropped, %d connects (%d failed), "
                    + "%d renewals, %d configs applied, %d commands answered", connected, devices, acknowledged, buffered, dropped,
                    connects, connectFailures, renewals, configsApplied, commandsHandled);
        }
    }

    private final Settings s;
    private final OperatorApi api;
    private final List<X509Certificate> anchors;
    private final List<SimDevice> fleet = new ArrayList<>();
    private final ScheduledExecutorService timers = Executors.newScheduledThreadPool(2, r -> {
        Thread t = new Thread(r, "bulwark-simulator");
        t.setDaemon(true);
        return t;
    });
    private final Map<String, ScheduledFuture<?>> senders = new ConcurrentHashMap<>();
    private final AtomicLong sequence = new AtomicLong();

    private FleetSimulator(Settings s) {
        this.s = s;
        this.anchors = DeviceTls.readCertificates(s.trustAnchor());
        this.api = new OperatorApi(s.api(), s.operatorToken(), anchors);
    }

    /** Registers what is missing, enrolls and starts the fleet; returns once every device was started. */
    public static FleetSimulator start(Settings settings) {
        FleetSimulator sim = new FleetSimulator(settings);
        try {
            sim.setUp();
        } catch (RuntimeException e) {
            sim.close();
            throw e;
        }
        return sim;
    }

    public List<SimDevice> fleet() {
        return List.copyOf(fleet);
    }

    public Summary summary() {
        int connected = 0;
        long acked = 0, dropped = 0, buffered = 0, connects = 0, failures = 0, renewals = 0, configs = 0, commands = 0;
        for (SimDevice d : fleet) {
            BulwarkDevice.Stats st = d.device().stats();
            connected += st.connected() ? 1 : 0;
            acked += st.acknowledged();
            dropped += st.dropped();
            buffered += st.buffered();
            connects += st.connects();
            failures += st.connectFailures();
            renewals += st.renewals();
            configs += st.configsApplied();
            commands += st.commandsHandled();
        }
        return new Summary(fleet.size(), connected, acked, dropped, buffered, connects, failures, renewals, configs, commands);
    }

    private void setUp() {
        OperatorApi.expect(api.post("/api/v1/models", Map.of("id", s.model())), "model " + s.model(), 201, 409);
        OperatorApi.expect(api.put("/api/v1/models/" + s.model() + "/config-schema", Map.of("type", "object",
                "properties", Map.of("interval", Map.of("type", "number", "exclusiveMinimum", 0, "maximum", 3600)),
                "additionalProperties", false)), "config schema", 200);
        OperatorApi.expect(api.put("/api/v1/models/" + s.model() + "/commands/reboot", Map.of("paramsSchema", Map.of("type", "object",
                "properties", Map.of("delaySeconds", Map.of("type", "integer", "minimum", 0, "maximum", 60)), "additionalProperties", false))),
                "command reboot", 200);
        OperatorApi.expect(api.put("/api/v1/models/" + s.model() + "/commands/identify", Map.of("paramsSchema", Map.of("type", "object"))),
                "command identify", 200);

        for (int i = 1; i <= s.devices(); i++) {
            String id = String.format(Locale.ROOT, "%s-%04d", s.prefix(), i);
            BulwarkDevice d = healthy(id, stateDir(id));
            fleet.add(new SimDevice(id, "healthy", d));
        }
        int flaky = (int) Math.round(s.flakyShare() * s.devices());
        for (int i = 0; i < flaky; i++) {
            SimDevice sd = fleet.get(s.devices() - 1 - i);
            fleet.set(s.devices() - 1 - i, new SimDevice(sd.id(), "flaky", sd.device()));
            scheduleOutage(sd.device(), 3_000 + ThreadLocalRandom.current().nextLong(7_000));
        }
        for (int i = 0; i < s.clones(); i++) {
            SimDevice original = fleet.get(i);
            fleet.add(new SimDevice(original.id(), "clone", clone(original)));
            fleet.set(i, new SimDevice(original.id(), "cloned", original.device()));
        }
        for (int i = 1; i <= s.revoked(); i++) {
            String id = String.format(Locale.ROOT, "%s-revoked-%02d", s.prefix(), i);
            fleet.add(new SimDevice(id, "revoked-certificate", revoked(id)));
        }
        FactoryCa ca = null;
        for (int i = 1; i <= s.expired(); i++) {
            String id = String.format(Locale.ROOT, "%s-expired-%02d", s.prefix(), i);
            Path dir = stateDir(id);
            if (new CredentialFiles(dir).load().isEmpty()) {
                if (ca == null) {
                    ca = FactoryCa.register(api, s.prefix() + " factory CA " + Long.toHexString(System.nanoTime()));
                }
                register(id);
                CredentialFiles.Credential factory = ca.issue(id, System.currentTimeMillis() + 2_000);
                OperatorApi.expect(api.post("/api/v1/devices/" + id + "/certificates", Map.of("certificate", FactoryCa.pem(factory.certificate()))),
                        "factory certificate for " + id, 201);
                new CredentialFiles(dir).store(factory.keys(), factory.certificate());
            }
            fleet.add(new SimDevice(id, "expired-certificate", null));
        }
        if (s.expired() > 0) {
            sleep(2_500); // let the factory certificates run out
            for (int i = 0; i < fleet.size(); i++) {
                SimDevice sd = fleet.get(i);
                if (sd.device() == null) {
                    BulwarkDevice d = base(sd.id(), stateDir(sd.id())).backoff(new Backoff(Duration.ofSeconds(5), Duration.ofSeconds(5)))
                            .renewBefore(Duration.ZERO).build().start();
                    fleet.set(i, new SimDevice(sd.id(), sd.role(), d));
                }
            }
        }
    }

    private Path stateDir(String id) {
        return s.stateDir().resolve(id);
    }

    private void register(String id) {
        OperatorApi.expect(api.post("/api/v1/devices", Map.of("id", id, "model", s.model())), "device " + id, 201, 409);
    }

    private BulwarkDevice.Builder base(String id, Path dir) {
        return BulwarkDevice.builder(DeviceId.of(id)).stateDir(dir).trustAnchor(s.trustAnchor()).est(s.est()).mqtt(s.mqtt())
                .backoff(s.backoff());
    }

    /** A device that enrolls if it has no credential yet, then sends telemetry and answers. */
    private BulwarkDevice healthy(String id, Path dir) {
        register(id);
        BulwarkDevice.Builder b = base(id, dir);
        if (new CredentialFiles(dir).load().isEmpty()) {
            b.enrollmentToken(OperatorApi.expect(api.post("/api/v1/devices/" + id + "/enrollment-tokens", null), "enrollment token for " + id, 201)
                    .json().get("token").asText());
        }
        BulwarkDevice[] self = new BulwarkDevice[1];
        b.onConfig((version, desired) -> {
            if (desired.path("interval").isNumber()) {
                schedule(id, self[0], desired.get("interval").asDouble());
            }
            return desired;
        });
        b.onCommand(cmd -> {
            if (cmd.name().equals("reboot")) {
                int delay = cmd.params().path("delaySeconds").asInt(0);
                timers.schedule(() -> self[0].dropNetwork(Duration.ofSeconds(2)), delay, TimeUnit.SECONDS);
                return BulwarkDevice.CommandResult.ok(OperatorApi.JSON.createObjectNode().put("rebootingInSeconds", delay));
            }
            if (cmd.name().equals("identify")) {
                return BulwarkDevice.CommandResult.ok(OperatorApi.JSON.createObjectNode().put("blinked", true));
            }
            return BulwarkDevice.CommandResult.failed("unknown command " + cmd.name());
        });
        self[0] = b.build().start();
        schedule(id, self[0], 1.0 / s.ratePerDevice());
        return self[0];
    }

    /** A second device with a copy of {@code original}'s credential: the same identity from two places. */
    private BulwarkDevice clone(SimDevice original) {
        Path src = stateDir(original.id());
        Path dst = s.stateDir().resolve("clones").resolve(original.id());
        waitFor(() -> new CredentialFiles(src).load().isPresent(), Duration.ofSeconds(60), "enrollment of " + original.id());
        CredentialFiles.Credential c = new CredentialFiles(src).load().orElseThrow();
        new CredentialFiles(dst).store(c.keys(), c.certificate());
        BulwarkDevice d = base(original.id(), dst).build().start();
        schedule(original.id() + "#clone", d, 1.0 / s.ratePerDevice());
        return d;
    }

    /** A device that enrolls and connects, then has its certificate revoked and keeps retrying with it. */
    private BulwarkDevice revoked(String id) {
        Path dir = stateDir(id);
        register(id);
        boolean fresh = new CredentialFiles(dir).load().isEmpty();
        BulwarkDevice.Builder b = base(id, dir);
        if (fresh) {
            b.enrollmentToken(OperatorApi.expect(api.post("/api/v1/devices/" + id + "/enrollment-tokens", null), "enrollment token", 201)
                    .json().get("token").asText());
        }
        BulwarkDevice d = b.build().start();
        if (fresh) {
            waitFor(() -> d.certificate() != null, Duration.ofSeconds(60), "enrollment of " + id);
            String serial = d.certificate().getSerialNumber().toString(16);
            OperatorApi.expect(api.post("/api/v1/devices/" + id + "/certificates/" + serial + "/revoke", null),
                    "revocation for " + id, 200);
        }
        return d;
    }

    private void schedule(String key, BulwarkDevice d, double periodSeconds) {
        long periodMs = Math.max(1, (long) (periodSeconds * 1000));
        ScheduledFuture<?> previous = senders.put(key, timers.scheduleAtFixedRate(() -> {
            ObjectNode m = OperatorApi.JSON.createObjectNode();
            ThreadLocalRandom r = ThreadLocalRandom.current();
            m.put("seq", sequence.incrementAndGet());
            m.put("celsius", Math.round((21 + r.nextGaussian()) * 10) / 10.0);
            m.put("humidity", 35 + r.nextInt(20));
            d.publishTelemetry(m.toString().getBytes(StandardCharsets.UTF_8));
        }, ThreadLocalRandom.current().nextLong(periodMs), periodMs, TimeUnit.MILLISECONDS));
        if (previous != null) {
            previous.cancel(false);
        }
    }

    /** Network losses of 2-8 s, the first after {@code firstMs}, then every 10-30 s. */
    private void scheduleOutage(BulwarkDevice d, long firstMs) {
        timers.schedule(() -> {
            d.dropNetwork(Duration.ofMillis(2_000 + ThreadLocalRandom.current().nextLong(6_000)));
            scheduleOutage(d, 10_000 + ThreadLocalRandom.current().nextLong(20_000));
        }, firstMs, TimeUnit.MILLISECONDS);
    }

    private static void waitFor(java.util.function.BooleanSupplier condition, Duration max, String what) {
        long end = System.nanoTime() + max.toNanos();
        while (!condition.getAsBoolean()) {
            if (System.nanoTime() > end) {
                throw new IllegalStateException("timed out waiting for " + what);
            }
            sleep(50);
        }
    }

    private static void sleep(long ms) {
        try {
            Thread.sleep(ms);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new IllegalStateException("interrupted");
        }
    }

    /** The devices' roles and counts, for a report. */
    public Map<String, Integer> roles() {
        Map<String, Integer> out = new LinkedHashMap<>();
        fleet.forEach(d -> out.merge(d.role(), 1, Integer::sum));
        return out;
    }

    /** Stops sending and disconnects every device cleanly. */
    @Override
    public void close() {
        timers.shutdownNow();
        for (SimDevice d : fleet) {
            if (d.device() != null) {
                d.device().close();
            }
        }
    }
}
