package dev.bulwark.device;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import dev.bulwark.protocol.DeviceId;
import dev.bulwark.protocol.DeviceTopic;
import java.net.URI;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.security.cert.X509Certificate;
import java.time.Duration;
import java.util.List;
import java.util.Objects;

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
 *       ({@link Backoff}). One MQTT address (a node, or the load balancer in front of a cluster) or several
 *       (the nodes of a cluster): a failed attempt or a lost connection moves on to the next one.</li>
 *   <li><b>Delivery.</b> Telemetry, events, reported configuration and command results go through a
 *       bounded {@link OutboundBuffer} at QoS 1. A message leaves the buffer only when the server
 *       acknowledges it, which Bulwark does only after storing it; during an outage messages wait, and
 *       when the buffer is full its {@link OutboundBuffer.DropPolicy} decides, counted in {@link Stats}.</li>
 *   <li><b>Configuration and commands.</b> A {@link ConfigHandler} receives each new desired document
 *       (older versions are ignored) and returns what the device now reports; a {@link CommandHandler}
 *       answers each command, and its result is sent back. A command id runs at most once, across restarts too:
 *       delivered again, it is answered with the outcome stored the first time (kept in the state directory).</li>
 * </ul>
 *
 * <p>Handlers run on the session's callback thread: keep them short, or hand work to your own executor and
 * publish later.
 */
public final class BulwarkDevice implements AutoCloseable {
    private static final ObjectMapper JSON = new ObjectMapper();

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
                        int buffered, long renewals, long configsApplied, long commandsHandled, long commandsRepeated, String lastError) {
    }

    private final DeviceId id;
    private final OutboundBuffer buffer;
    private final FirmwareUpdater firmware;
    private final InboundMessages inbound;
    private final MqttSession session;
    private final Enrollment enrollment;

    private BulwarkDevice(Builder b) {
        this.id = Objects.requireNonNull(b.id, "device id");
        CredentialFiles files = new CredentialFiles(Objects.requireNonNull(b.stateDir, "stateDir"));
        List<X509Certificate> anchors = DeviceTls.readCertificates(Objects.requireNonNull(b.trustAnchor, "trustAnchor"));
        EstClient est = new EstClient(Objects.requireNonNull(b.est, "est"), anchors);
        List<URI> mqtt = Builder.endpoints(Objects.requireNonNull(b.mqtt, "mqtt"));
        this.buffer = new OutboundBuffer(b.bufferCapacity, b.dropPolicy);
        this.firmware = b.firmwareSettings == null ? null
                : new FirmwareUpdater(b.est, anchors, this::currentCredential, b.firmwareSettings, b.installer);
        this.inbound = new InboundMessages(id, b.stateDir, b.configHandler, b.commandHandler, firmware, this::enqueue);
        this.session = new MqttSession(id, mqtt, anchors, buffer, b.backoff, b.window, b.keepAlive, firmware != null, inbound::handle);
        this.enrollment = new Enrollment(id, files, est, b.enrollmentToken, b.renewBefore, session);
    }

    private CredentialFiles.Credential currentCredential() {
        return session.credential();
    }

    /** The outcome of the last firmware offer handled, or null. */
    public FirmwareUpdater.Outcome lastFirmware() {
        return inbound.lastFirmware();
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
        DeviceThreads.SHARED.execute(enrollment::boot);
        return this;
    }

    /** Waits until the first connection is up; false on timeout. */
    public boolean awaitConnected(Duration timeout) throws InterruptedException {
        return session.awaitConnected(timeout);
    }

    /** Queues telemetry (QoS 1); false when the buffer refused it (full, drop policy {@code REJECT_NEWEST}). */
    public boolean publishTelemetry(byte[] payload) {
        return enqueue(new DeviceTopic.Telemetry(id).name(), payload);
    }

    public boolean publishEvent(byte[] payload) {
        return enqueue(new DeviceTopic.Events(id).name(), payload);
    }

    /** Sends the configuration the device has in effect. */
    public boolean reportConfig(JsonNode reported) {
        return enqueue(new DeviceTopic.ReportedConfig(id).name(), reported.toString().getBytes(StandardCharsets.UTF_8));
    }

    public Stats stats() {
        MqttSession.Status s = session.status();
        return new Stats(s.connected(), s.connects(), s.connectFailures(), buffer.accepted(), buffer.acknowledged(), buffer.dropped(),
                buffer.size(), enrollment.renewals(), inbound.configsApplied(), inbound.commandsHandled(),
                inbound.commandsRepeated(), s.lastError());
    }

    /** The MQTT endpoint connected to now, or the one the next connection attempt goes to. */
    public URI endpoint() {
        return session.status().endpoint();
    }

    /** The certificate in use, or null before enrollment. */
    public X509Certificate certificate() {
        CredentialFiles.Credential c = session.credential();
        return c == null ? null : c.certificate();
    }

    /**
     * Simulates losing the network for {@code d}: the connection is cut without a DISCONNECT packet and no
     * reconnect is tried before {@code d} has passed (then the normal backoff applies).
     */
    public void dropNetwork(Duration d) {
        session.dropNetwork(d);
    }

    /** Renews the certificate now (new key, EST simplereenroll), then reconnects with it. */
    public void renewNow() {
        DeviceThreads.SHARED.execute(enrollment::renew);
    }

    private boolean enqueue(String topic, byte[] payload) {
        boolean ok = buffer.offer(topic, payload);
        DeviceThreads.SHARED.execute(session::pump);
        return ok;
    }

    /** Disconnects cleanly (what was not acknowledged stays counted as buffered) and stops every timer. */
    @Override
    public void close() {
        session.close();
        enrollment.close();
    }

    /** Settings; only the device id, state directory, trust anchor and the two addresses are required. */
    public static final class Builder {
        private final DeviceId id;
        private Path stateDir;
        private Path trustAnchor;
        private URI est;
        private List<URI> mqtt;
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

        /** Where the credential and the ids of executed commands live (created 0700; its files 0600). */
        public Builder stateDir(Path dir) { this.stateDir = dir; return this; }

        /** The platform CA certificate (PEM), given to the device out of band, e.g. at the factory. */
        public Builder trustAnchor(Path caPem) { this.trustAnchor = caPem; return this; }

        /** The device HTTPS address, e.g. {@code https://bulwark.example:8444}. */
        public Builder est(URI uri) { this.est = uri; return this; }

        /** The MQTT over TLS address, e.g. {@code ssl://bulwark.example:8883}. */
        public Builder mqtt(URI uri) { this.mqtt = java.util.Collections.singletonList(uri); return this; }

        /**
         * Several MQTT over TLS addresses of one cluster, e.g. its nodes: the device connects to the first, and
         * when an attempt fails or the connection is lost it tries the next (wrapping around), with the
         * {@link #backoff(Backoff) backoff} growing once per round over all of them.
         */
        public Builder mqtt(URI first, URI... more) {
            List<URI> all = new java.util.ArrayList<>();
            all.add(first);
            all.addAll(java.util.Arrays.asList(more));
            this.mqtt = all;
            return this;
        }

        /** The same as {@link #mqtt(URI, URI...)}, from a list (at least one address). */
        public Builder mqttEndpoints(List<URI> uris) { this.mqtt = new java.util.ArrayList<>(uris); return this; }

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

        /** The MQTT addresses, checked: at least one, each {@code ssl://host:port}, none twice. */
        static List<URI> endpoints(List<URI> uris) {
            if (uris.isEmpty()) {
                throw new IllegalArgumentException("at least one MQTT address is needed");
            }
            java.util.Set<URI> seen = new java.util.HashSet<>();
            for (URI u : uris) {
                if (u == null) {
                    throw new IllegalArgumentException("an MQTT address is missing (null)");
                }
                if (!"ssl".equals(u.getScheme())) {
                    throw new IllegalArgumentException("the MQTT address must be ssl://host:port: Bulwark devices speak MQTT over TLS only");
                }
                if (u.getHost() == null || u.getPort() < 1) {
                    throw new IllegalArgumentException("the MQTT address must name a host and a port: ssl://host:port");
                }
                if (!seen.add(u)) {
                    throw new IllegalArgumentException("the MQTT address " + u + " is given twice");
                }
            }
            return List.copyOf(uris);
        }
    }
}
