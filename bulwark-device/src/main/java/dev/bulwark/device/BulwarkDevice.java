package dev.bulwark.device;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ObjectNode;
import dev.bulwark.protocol.DeviceId;
import dev.bulwark.protocol.Topics;
import java.net.URI;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.security.cert.X509Certificate;
import java.time.Duration;
import java.util.List;
import java.util.Objects;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.Executors;
import java.util.concurrent.ScheduledExecutorService;
import java.util.concurrent.ScheduledFuture;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicLong;
import org.eclipse.paho.mqttv5.client.IMqttToken;
import org.eclipse.paho.mqttv5.client.MqttActionListener;
import org.eclipse.paho.mqttv5.client.MqttAsyncClient;
import org.eclipse.paho.mqttv5.client.MqttCallback;
import org.eclipse.paho.mqttv5.client.MqttConnectionOptions;
import org.eclipse.paho.mqttv5.client.MqttDisconnectResponse;
import org.eclipse.paho.mqttv5.client.persist.MemoryPersistence;
import org.eclipse.paho.mqttv5.common.MqttException;
import org.eclipse.paho.mqttv5.common.MqttMessage;
import org.eclipse.paho.mqttv5.common.packet.MqttProperties;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * A device's connection to Bulwark, secure by default.
 *
 * <ul>
 *   <li><b>Identity.</b> The key pair is generated on the device (P-256) and never leaves it; the first
 *       certificate comes from EST {@code simpleenroll} with a one-time enrollment token; key and
 *       certificate are stored together, owner-only ({@link CredentialFiles}). Before the certificate
 *       expires (by default when a third of its lifetime is left) the device makes a new key and renews
 *       through {@code simplereenroll}, then reconnects with the new certificate.</li>
 *   <li><b>Session.</b> MQTT 5 over mutual TLS (TLS 1.3/1.2), the server checked against the platform CA
 *       and its host name. Client id = device id. Reconnects with exponential backoff and full jitter
 *       ({@link Backoff}).</li>
 *   <li><b>Delivery.</b> Telemetry, events, reported configuration and command results go through a
 *       bounded {@link OutboundBuffer} at QoS 1. A message leaves the buffer only when the server
 *       acknowledges it, which Bulwark does only after storing it; during an outage messages wait, and
 *       when the buffer is full its {@link OutboundBuffer.DropPolicy} decides, counted in {@link Stats}.</li>
 *   <li><b>Configuration and commands.</b> A {@link ConfigHandler} receives each new desired document
 *       (older versions are ignored) and returns what the device now reports; a {@link CommandHandler}
 *       answers each command, and its result is sent back.</li>
 * </ul>
 *
 * <p>Handlers run on the session's callback thread: keep them short, or hand work to your own executor and
 * publish later.
 */
public final class BulwarkDevice implements AutoCloseable {
    private static final Logger LOG = LoggerFactory.getLogger(BulwarkDevice.class);
    private static final ObjectMapper JSON = new ObjectMapper();
    private static final ScheduledExecutorService SHARED = Executors.newScheduledThreadPool(4, r -> {
        Thread t = new Thread(r, "bulwark-device-timer");
        t.setDaemon(true);
        return t;
    });

    /** Receives a new desired configuration; returns the configuration now in effect (reported), or null. */
    @FunctionalInterface
    public interface ConfigHandler {
        JsonNode onDesired(long version, JsonNode desired);
    }

    /** A command from the operator. */
    public record Command(String id, String name, JsonNode params, String expiresAt) {
    }

    /** A command's outcome: {@code succeeded} or not, with an optional result document. */
    public record CommandResult(boolean succeeded, JsonNode result) {
        public static CommandResult ok(JsonNode result) {
            return new CommandResult(true, result);
        }

        public static CommandResult failed(String reason) {
            return new CommandResult(false, JSON.createObjectNode().put("reason", reason));
        }
    }

    @FunctionalInterface
    public interface CommandHandler {
        CommandResult handle(Command command);
    }

    /** What the device has done so far. */
    public record Stats(boolean connected, long connects, long connectFailures, long accepted, long acknowledged, long dropped,
                        int buffered, long renewals, long configsApplied, long commandsHandled, String lastError) {
    }

    private final DeviceId id;
    private final CredentialFiles files;
    private final List<X509Certificate> anchors;
    private final EstClient est;
    private final URI mqtt;
    private final String enrollmentToken;
    private final OutboundBuffer buffer;
    private final Backoff backoff;
    private final int window;
    private final Duration renewBefore;
    private final Duration keepAlive;
    private final ConfigHandler configHandler;
    private final CommandHandler commandHandler;
    private final FirmwareUpdater firmware;
    private final AtomicLong firmwareInstalled = new AtomicLong();
    private volatile FirmwareUpdater.Outcome lastFirmware;

    private CredentialFiles.Credential credential;
    private MqttAsyncClient client;
    private int generation;
    private boolean connected;
    private boolean closed;
    private int attempt;
    private long offlineUntilMs;
    private long lastConfigVersion = -1;
    private ScheduledFuture<?> pending;
    private ScheduledFuture<?> renewal;
    private String lastError;
    private final CountDownLatch firstConnect = new CountDownLatch(1);
    private final AtomicLong connects = new AtomicLong();
    private final AtomicLong connectFailures = new AtomicLong();
    private final AtomicLong renewals = new AtomicLong();
    private final AtomicLong configsApplied = new AtomicLong();
    private final AtomicLong commandsHandled = new AtomicLong();

    private BulwarkDevice(Builder b) {
        this.id = Objects.requireNonNull(b.id, "device id");
        this.files = new CredentialFiles(Objects.requireNonNull(b.stateDir, "stateDir"));
        this.anchors = DeviceTls.readCertificates(Objects.requireNonNull(b.trustAnchor, "trustAnchor"));
        this.est = new EstClient(Objects.requireNonNull(b.est, "est"), anchors);
        this.mqtt = Objects.requireNonNull(b.mqtt, "mqtt");
        if (!"ssl".equals(mqtt.getScheme())) {
            throw new IllegalArgumentException("the MQTT address must be ssl://host:port: Bulwark devices speak MQTT over TLS only");
        }
        this.enrollmentToken = b.enrollmentToken;
        this.buffer = new OutboundBuffer(b.bufferCapacity, b.dropPolicy);
        this.backoff = b.backoff;
        this.window = b.window;
        this.renewBefore = b.renewBefore;
        this.keepAlive = b.keepAlive;
        this.configHandler = b.configHandler;
        this.commandHandler = b.commandHandler;
        this.firmware = b.firmwareSettings == null ? null
                : new FirmwareUpdater(b.est, anchors, this::currentCredential, b.firmwareSettings, b.installer);
    }

    private synchronized CredentialFiles.Credential currentCredential() {
        return credential;
    }

    /** The outcome of the last firmware offer handled, or null. */
    public FirmwareUpdater.Outcome lastFirmware() {
        return lastFirmware;
    }

    /** The firmware updater, when firmware updates are configured. */
    public FirmwareUpdater firmware() {
        return firmware;
    }

    public static Builder builder(DeviceId id) {
        return new Builder(id);
    }

    public DeviceId id() {
        return id;
    }

    /**
     * Starts the device in the background: loads its credential or enrolls (with the enrollment token),
     * then connects and keeps connecting. Returns at once; see {@link #awaitConnected(Duration)}.
     */
    public BulwarkDevice start() {
        SHARED.execute(this::boot);
        return this;
    }

    /** Waits until the first connection is up; false on timeout. */
    public boolean awaitConnected(Duration timeout) throws InterruptedException {
        return firstConnect.await(timeout.toMillis(), TimeUnit.MILLISECONDS);
    }

    /** Queues telemetry (QoS 1); false when the buffer refused it (full, drop policy {@code REJECT_NEWEST}). */
    public boolean publishTelemetry(byte[] payload) {
        return enqueue(Topics.telemetry(id), payload);
    }

    public boolean publishEvent(byte[] payload) {
        return enqueue(Topics.events(id), payload);
    }

    /** Sends the configuration the device has in effect. */
    public boolean reportConfig(JsonNode reported) {
        return enqueue(Topics.configReported(id), reported.toString().getBytes(StandardCharsets.UTF_8));
    }

    public synchronized Stats stats() {
        return new Stats(connected, connects.get(), connectFailures.get(), buffer.accepted(), buffer.acknowledged(), buffer.dropped(),
                buffer.size(), renewals.get(), configsApplied.get(), commandsHandled.get(), lastError);
    }

    /** The certificate in use, or null before enrollment. */
    public synchronized X509Certificate certificate() {
        return credential == null ? null : credential.certificate();
    }

    /**
     * Simulates losing the network for {@code d}: the connection is cut without a DISCONNECT packet and no
     * reconnect is tried before {@code d} has passed (then the normal backoff applies).
     */
    public synchronized void dropNetwork(Duration d) {
        offlineUntilMs = System.currentTimeMillis() + d.toMillis();
        if (client != null) {
            lost("network dropped (simulated)");
        }
    }

    /** Renews the certificate now (new key, EST simplereenroll), then reconnects with it. */
    public void renewNow() {
        SHARED.execute(this::renew);
    }

    private boolean enqueue(String topic, byte[] payload) {
        boolean ok = buffer.offer(topic, payload);
        SHARED.execute(this::pump);
        return ok;
    }

    // ---- enrollment and renewal -------------------------------------------------------------------------

    private void boot() {
        try {
            CredentialFiles.Credential c = files.load().orElse(null);
            if (c == null) {
                if (enrollmentToken == null) {
                    fail("no stored credential and no enrollment token: the device cannot enroll");
                    return;
                }
                DeviceKeys keys = DeviceKeys.generate(id);
                X509Certificate cert = est.enroll(enrollmentToken, keys.csrDer());
                files.store(keys.keyPair(), cert);
                c = new CredentialFiles.Credential(keys.keyPair(), cert);
                LOG.info("device {} enrolled over EST: certificate serial {}", id, cert.getSerialNumber().toString(16));
            }
            synchronized (this) {
                credential = c;
            }
            scheduleRenewal();
            connect();
        } catch (EstClient.EstException e) {
            fail(e.getMessage());
            if (e.retryable()) {
                retryLater(this::boot);
            }
        } catch (RuntimeException e) {
            fail("start failed: " + e.getMessage());
        }
    }

    private void scheduleRenewal() {
        X509Certificate cert;
        synchronized (this) {
            if (closed || credential == null) {
                return;
            }
            cert = credential.certificate();
        }
        long notBefore = cert.getNotBefore().getTime();
        long notAfter = cert.getNotAfter().getTime();
        long lifetime = Math.max(1, notAfter - notBefore);
        // at most 90% of the lifetime ahead: a margin as long as the lifetime would renew in a tight loop
        long margin = Math.min(renewBefore != null ? renewBefore.toMillis() : lifetime / 3, lifetime * 9 / 10);
        long delay = Math.max(0, notAfter - margin - System.currentTimeMillis());
        if (renewals.get() > 0) {
            delay = Math.max(delay, lifetime / 20); // never straight again after a renewal
        }
        synchronized (this) {
            if (renewal != null) {
                renewal.cancel(false);
            }
            renewal = SHARED.schedule(this::renew, delay, TimeUnit.MILLISECONDS);
        }
    }

    private void renew() {
        CredentialFiles.Credential current;
        synchronized (this) {
            if (closed || credential == null) {
                return;
            }
            current = credential;
        }
        try {
            DeviceKeys keys = DeviceKeys.generate(id);
            X509Certificate cert = est.reenroll(current, keys.csrDer());
            files.store(keys.keyPair(), cert);
            renewals.incrementAndGet();
            LOG.info("device {} renewed its certificate: serial {}", id, cert.getSerialNumber().toString(16));
            synchronized (this) {
                credential = new CredentialFiles.Credential(keys.keyPair(), cert);
                if (client != null) {
                    // reconnect with the new certificate; what was in flight is sent again
                    closeClient(true);
                    connected = false;
                    schedule(this::connect, 0);
                }
            }
            scheduleRenewal();
        } catch (RuntimeException e) {
            fail("renewal failed: " + e.getMessage());
            retryLater(this::renew);
        }
    }

    // ---- the MQTT session -------------------------------------------------------------------------------

    private void connect() {
        MqttAsyncClient c;
        int gen;
        MqttConnectionOptions o = new MqttConnectionOptions();
        synchronized (this) {
            if (closed || connected || client != null) {
                return;
            }
            long wait = offlineUntilMs - System.currentTimeMillis();
            if (wait > 0) {
                schedule(this::connect, wait);
                return;
            }
            try {
                c = new MqttAsyncClient(mqtt.toString(), id.value(), new MemoryPersistence());
            } catch (MqttException e) {
                fail("bad MQTT address: " + e.getMessage());
                return;
            }
            gen = ++generation;
            client = c;
            o.setCleanStart(true);
            o.setSessionExpiryInterval(0L);
            o.setAutomaticReconnect(false);
            o.setKeepAliveInterval((int) keepAlive.toSeconds());
            o.setConnectionTimeout(15);
            o.setHttpsHostnameVerificationEnabled(true);
            o.setSocketFactory(DeviceTls.context(anchors, credential).getSocketFactory());
            c.setCallback(new Callback(gen));
        }
        try {
            c.connect(o, null, new MqttActionListener() {
                @Override
                public void onSuccess(IMqttToken token) {
                    connected(gen);
                }

                @Override
                public void onFailure(IMqttToken token, Throwable e) {
                    connectFailed(gen, e);
                }
            });
        } catch (MqttException e) {
            connectFailed(gen, e);
        }
    }

    private void connected(int gen) {
        MqttAsyncClient c;
        synchronized (this) {
            if (gen != generation || closed) {
                return;
            }
            connected = true;
            attempt = 0;
            lastError = null;
            c = client;
            // What the previous connection left unacknowledged is sent again now, not when that connection
            // broke: acknowledgements still on their way from it had the reconnect's time to arrive.
            buffer.requeueInFlight();
        }
        connects.incrementAndGet();
        firstConnect.countDown();
        try {
            if (firmware != null) {
                c.subscribe(new String[] {Topics.configDesired(id), Topics.commands(id), Topics.firmware(id)}, new int[] {1, 1, 1});
            } else {
                c.subscribe(new String[] {Topics.configDesired(id), Topics.commands(id)}, new int[] {1, 1});
            }
        } catch (MqttException e) {
            lost("subscribe failed: " + e.getMessage());
            return;
        }
        pump();
    }

    private void connectFailed(int gen, Throwable e) {
        synchronized (this) {
            if (gen != generation || closed) {
                return;
            }
            connectFailures.incrementAndGet();
            lastError = "connect failed: " + describe(e);
            closeClient(false);
            long delay = backoff.delayMs(attempt++);
            schedule(this::connect, delay);
        }
    }

    /** The connection is gone (or must go): requeue what was in flight and reconnect after a backoff delay. */
    private synchronized void lost(String why) {
        if (client == null) {
            return;
        }
        lastError = why;
        boolean wasConnected = connected;
        connected = false;
        closeClient(false);
        if (!closed) {
            schedule(this::connect, wasConnected ? backoff.delayMs(0) : backoff.delayMs(attempt++));
        }
    }

    private void pump() {
        while (true) {
            MqttAsyncClient c;
            int gen;
            OutboundBuffer.Message m;
            synchronized (this) {
                if (!connected || closed) {
                    return;
                }
                m = buffer.take(window);
                if (m == null) {
                    return;
                }
                c = client;
                gen = generation;
            }
            try {
                c.publish(m.topic(), m.payload(), 1, false, null, new MqttActionListener() {
                    @Override
                    public void onSuccess(IMqttToken token) {
                        int[] codes = token.getReasonCodes();
                        if (codes != null && codes.length > 0 && codes[0] >= 0x80) {
                            lostIf(gen, "the server refused a message (reason " + codes[0] + ")");
                            return;
                        }
                        buffer.acknowledged(m);
                        SHARED.execute(BulwarkDevice.this::pump);
                    }

                    @Override
                    public void onFailure(IMqttToken token, Throwable e) {
                        lostIf(gen, "publish failed: " + describe(e));
                    }
                });
            } catch (MqttException e) {
                lostIf(gen, "publish failed: " + describe(e));
                return;
            }
        }
    }

    private synchronized void lostIf(int gen, String why) {
        if (gen == generation) {
            lost(why);
        }
    }

    private final class Callback implements MqttCallback {
        private final int gen;

        Callback(int gen) {
            this.gen = gen;
        }

        @Override
        public void disconnected(MqttDisconnectResponse response) {
            lostIf(gen, "disconnected by the server" + (response == null ? "" : " (reason " + response.getReturnCode() + ")"));
        }

        @Override
        public void mqttErrorOccurred(MqttException e) {
            lostIf(gen, "MQTT error: " + describe(e));
        }

        @Override
        public void messageArrived(String topic, MqttMessage message) {
            synchronized (BulwarkDevice.this) {
                if (gen != generation) {
                    return;
                }
            }
            handle(topic, message.getPayload());
        }

        @Override
        public void deliveryComplete(IMqttToken token) {
        }

        @Override
        public void connectComplete(boolean reconnect, String serverURI) {
        }

        @Override
        public void authPacketArrived(int reasonCode, MqttProperties properties) {
        }
    }

    private void handle(String topic, byte[] payload) {
        if (firmware != null && topic.equals(Topics.firmware(id))) {
            // off the callback thread: downloading and installing take time
            SHARED.execute(() -> {
                FirmwareUpdater.Outcome o = firmware.handleOffer(payload);
                lastFirmware = o;
                if (o.installed()) {
                    firmwareInstalled.incrementAndGet();
                    LOG.info("device {} installed firmware {}", id, o.version());
                } else {
                    LOG.warn("device {} refused a firmware offer: {}", id, o.reason());
                }
            });
            return;
        }
        JsonNode doc;
        try {
            doc = JSON.readTree(payload);
        } catch (java.io.IOException e) {
            LOG.warn("device {}: ignored a message on {} that is not JSON", id, topic);
            return;
        }
        if (topic.equals(Topics.configDesired(id))) {
            long version = doc.path("version").asLong(-1);
            synchronized (this) {
                if (version <= lastConfigVersion) {
                    return;
                }
                lastConfigVersion = version;
            }
            if (configHandler != null) {
                JsonNode reported = configHandler.onDesired(version, doc.path("desired"));
                configsApplied.incrementAndGet();
                if (reported != null) {
                    reportConfig(reported);
                }
            }
        } else if (topic.equals(Topics.commands(id))) {
            Command cmd = new Command(doc.path("id").asText(), doc.path("name").asText(), doc.path("params"), doc.path("expiresAt").asText(null));
            CommandResult r;
            try {
                r = commandHandler == null ? CommandResult.failed("this device handles no commands") : commandHandler.handle(cmd);
            } catch (RuntimeException e) {
                r = CommandResult.failed("handler error: " + e.getClass().getSimpleName());
            }
            commandsHandled.incrementAndGet();
            ObjectNode out = JSON.createObjectNode();
            out.put("status", r.succeeded() ? "succeeded" : "failed");
            if (r.result() != null) {
                out.set("result", r.result());
            }
            if (cmd.id().matches("[A-Za-z0-9._-]{1,64}")) {
                enqueue(Topics.commandResult(id, cmd.id()), out.toString().getBytes(StandardCharsets.UTF_8));
            }
        }
    }

    // ---- plumbing ---------------------------------------------------------------------------------------

    private synchronized void closeClient(boolean graceful) {
        MqttAsyncClient c = client;
        client = null;
        generation++;
        if (c == null) {
            return;
        }
        SHARED.execute(() -> {
            try {
                if (graceful && c.isConnected()) {
                    c.disconnect(2_000).waitForCompletion(3_000);
                } else {
                    c.disconnectForcibly(0, 0, false);
                }
            } catch (MqttException | RuntimeException e) {
                // already gone
            }
            try {
                c.close(true);
            } catch (MqttException | RuntimeException e) {
                // already closed
            }
        });
    }

    private synchronized void schedule(Runnable r, long delayMs) {
        if (closed) {
            return;
        }
        pending = SHARED.schedule(r, delayMs, TimeUnit.MILLISECONDS);
    }

    private void retryLater(Runnable r) {
        long delay;
        synchronized (this) {
            delay = backoff.delayMs(attempt++);
        }
        schedule(r, delay);
    }

    private synchronized void fail(String why) {
        lastError = why;
        LOG.warn("device {}: {}", id, why);
    }

    private static String describe(Throwable e) {
        if (e == null) {
            return "unknown";
        }
        Throwable root = e;
        while (root.getCause() != null && root.getCause() != root) {
            root = root.getCause();
        }
        return root == e ? String.valueOf(e.getMessage()) : e.getMessage() + " (" + root.getMessage() + ")";
    }

    /** Disconnects cleanly (what was not acknowledged stays counted as buffered) and stops every timer. */
    @Override
    public void close() {
        synchronized (this) {
            closed = true;
            if (pending != null) {
                pending.cancel(false);
            }
            if (renewal != null) {
                renewal.cancel(false);
            }
            connected = false;
            closeClient(true);
            buffer.requeueInFlight();
        }
    }

    /** Settings; only the device id, state directory, trust anchor and the two addresses are required. */
    public static final class Builder {
        private final DeviceId id;
        private Path stateDir;
        private Path trustAnchor;
        private URI est;
        private URI mqtt;
        private String enrollmentToken;
        private int bufferCapacity = 10_000;
        private OutboundBuffer.DropPolicy dropPolicy = OutboundBuffer.DropPolicy.DROP_OLDEST;
        private Backoff backoff = Backoff.standard();
        private int window = 32;
        private Duration renewBefore;
        private Duration keepAlive = Duration.ofSeconds(30);
        private ConfigHandler configHandler;
        private CommandHandler commandHandler;
        private FirmwareUpdater.Settings firmwareSettings;
        private FirmwareUpdater.Installer installer;

        private Builder(DeviceId id) {
            this.id = id;
        }

        /** Where the credential lives (created 0700; {@code credentials.pem} 0600). */
        public Builder stateDir(Path dir) { this.stateDir = dir; return this; }

        /** The platform CA certificate (PEM), given to the device out of band, e.g. at the factory. */
        public Builder trustAnchor(Path caPem) { this.trustAnchor = caPem; return this; }

        /** The device HTTPS address, e.g. {@code https://bulwark.example:8444}. */
        public Builder est(URI uri) { this.est = uri; return this; }

        /** The MQTT over TLS address, e.g. {@code ssl://bulwark.example:8883}. */
        public Builder mqtt(URI uri) { this.mqtt = uri; return this; }

        /** The one-time token for the first enrollment; unused once a credential is stored. */
        public Builder enrollmentToken(String token) { this.enrollmentToken = token; return this; }

        /** Outage buffer size in messages, and what to drop when it is full (default 10,000, drop oldest). */
        public Builder buffer(int capacity, OutboundBuffer.DropPolicy policy) { this.bufferCapacity = capacity; this.dropPolicy = policy; return this; }

        public Builder backoff(Backoff b) { this.backoff = b; return this; }

        /** Messages sent but not yet acknowledged at most (default 32). */
        public Builder window(int w) { this.window = w; return this; }

        /** Renew when this much validity is left (default: a third of the certificate's lifetime). */
        public Builder renewBefore(Duration d) { this.renewBefore = d; return this; }

        public Builder keepAlive(Duration d) { this.keepAlive = d; return this; }

        public Builder onConfig(ConfigHandler h) { this.configHandler = h; return this; }

        public Builder onCommand(CommandHandler h) { this.commandHandler = h; return this; }

        /** Accepts firmware offers: verified as {@link FirmwareUpdater} describes, then handed to {@code installer}. */
        public Builder firmware(FirmwareUpdater.Settings settings, FirmwareUpdater.Installer installer) {
            this.firmwareSettings = settings;
            this.installer = installer;
            return this;
        }

        public BulwarkDevice build() {
            return new BulwarkDevice(this);
        }
    }
}
