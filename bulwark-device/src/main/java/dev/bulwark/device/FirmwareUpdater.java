package dev.bulwark.device;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import dev.bulwark.protocol.firmware.Canonical;
import dev.bulwark.protocol.firmware.Envelope;
import dev.bulwark.protocol.firmware.FirmwareMetadata;
import dev.bulwark.protocol.firmware.FirmwareRejected;
import dev.bulwark.protocol.firmware.FirmwareVerifier;
import dev.bulwark.protocol.firmware.ReleaseKeys;
import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.security.cert.X509Certificate;
import java.time.Clock;
import java.time.Duration;
import java.util.List;
import java.util.function.Supplier;
import javax.net.ssl.SSLParameters;

/**
 * Firmware updates that the backend cannot forge. Before it reports an image ready to install the device
 * checks, with {@link FirmwareVerifier}:
 *
 * <ul>
 *   <li>the root: the one installed at the factory, or a later one reached through rotations each signed by
 *       the previous root's threshold (the newest trusted root is kept in {@code firmware-root.json});</li>
 *   <li>the targets: signed by the root's release threshold, not expired, this model, this hardware, a
 *       version number above the one installed (kept in {@code firmware-counter}: no rollback);</li>
 *   <li>the timestamp: signed by the online key, fresh, naming exactly these targets (no freeze, no mix);</li>
 *   <li>the image, downloaded in byte ranges (an interrupted download resumes): its length and SHA-256.</li>
 * </ul>
 *
 * Each step is reported ({@code downloading}, {@code verified}, {@code installed}, {@code failed} with the
 * reason); the counter moves only after the installer succeeded.
 */
public final class FirmwareUpdater {
    private static final ObjectMapper JSON = new ObjectMapper();
    static final int CHUNK = 256 * 1024;

    /** Installs a verified image (writes the inactive slot, schedules the reboot...). Throw to report failure. */
    @FunctionalInterface
    public interface Installer {
        void install(byte[] image, FirmwareMetadata.Targets release) throws Exception;
    }

    /** What this device is, and where its firmware state lives. */
    public record Settings(String model, String hardware, Path factoryRoot, Path stateDir, Clock clock) {
        public Settings {
            if (model == null || hardware == null || factoryRoot == null || stateDir == null) {
                throw new IllegalArgumentException("model, hardware, factoryRoot and stateDir are required");
            }
            clock = clock == null ? Clock.systemUTC() : clock;
        }
    }

    /** The outcome of one offer: installed, or refused with the reason. */
    public record Outcome(boolean installed, String reason, String version) {
    }

    private final URI base;
    private final List<X509Certificate> anchors;
    private final Supplier<CredentialFiles.Credential> credential;
    private final Settings settings;
    private final Installer installer;
    private String rollout;

    public FirmwareUpdater(URI deviceHttps, List<X509Certificate> anchors, Supplier<CredentialFiles.Credential> credential, Settings settings,
                           Installer installer) {
        this.base = deviceHttps;
        this.anchors = anchors;
        this.credential = credential;
        this.settings = settings;
        this.installer = installer;
    }

    /**
     * The version number installed (0 before the first update). A version whose installation began but was
     * not confirmed (power lost in between) counts as installed: nothing at or below it is accepted again.
     */
    public long installedVersionNumber() {
        return Math.max(read("firmware-counter"), read("firmware-pending"));
    }

    private long read(String name) {
        Path f = settings.stateDir().resolve(name);
        try {
            return Files.exists(f) ? Long.parseLong(Files.readString(f).trim()) : 0;
        } catch (IOException | NumberFormatException e) {
            throw new IllegalStateException("the firmware state " + f + " is unreadable", e);
        }
    }

    /**
     * Handles an offer from {@code devices/{id}/firmware}: {@code {"rollout": "ro-…", "release": "fw-…", ...}}.
     * Blocking, and one offer at a time: two offers racing could otherwise both pass the version check.
     */
    public synchronized Outcome handleOffer(byte[] offerJson) {
        String release;
        try {
            JsonNode offer = JSON.readTree(offerJson);
            release = offer.path("release").asText("");
            rollout = offer.path("rollout").asText("").matches("ro-[0-9a-f]{16}") ? offer.get("rollout").asText() : null;
        } catch (IOException e) {
            return new Outcome(false, "malformed offer", null);
        }
        if (!release.matches("fw-[0-9a-f]{16}")) {
            return new Outcome(false, "malformed offer", null);
        }
        HttpClient http = client();
        FirmwareMetadata.Targets t = null;
        try {
            JsonNode metadata = JSON.readTree(get(http, "/device/v1/firmware/" + release, null).body());
            t = verify(metadata);
            report(http, release, "downloading", null);
            byte[] image = download(http, release, t.length());
            FirmwareVerifier.image(t, image.length, ReleaseKeys.sha256Hex(image));
            report(http, release, "verified", null);
            long installedNow = installedVersionNumber();
            if (t.versionNumber() <= installedNow) {
                throw new FirmwareRejected("rollback", "version number " + t.versionNumber() + " is not above the installed " + installedNow);
            }
            CredentialFiles.writeOwnerOnly(settings.stateDir(), "firmware-pending", t.versionNumber() + "\n");
            try {
                installer.install(image, t);
            } catch (Exception e) {
                Files.deleteIfExists(settings.stateDir().resolve("firmware-pending")); // it did not install: not a version to guard
                throw e;
            }
            CredentialFiles.writeOwnerOnly(settings.stateDir(), "firmware-counter", Math.max(read("firmware-counter"), t.versionNumber()) + "\n");
            Files.deleteIfExists(settings.stateDir().resolve("firmware-pending"));
            report(http, release, "installed", null);
            return new Outcome(true, null, t.version());
        } catch (FirmwareRejected e) {
            reportQuietly(http, release, "failed", e.reason() + ": " + e.getMessage());
            return new Outcome(false, e.reason(), t == null ? null : t.version());
        } catch (Exception e) {
            reportQuietly(http, release, "failed", "error: " + e.getMessage());
            return new Outcome(false, "error: " + e.getMessage(), t == null ? null : t.version());
        }
    }

    /**
     * Verifies a metadata bundle ({@code {"roots": [...], "targets": {...}, "timestamp": {...}}}) against the
     * trusted root and this device; advances the trusted root through valid rotations. Returns the targets.
     */
    public FirmwareMetadata.Targets verify(JsonNode bundle) {
        java.time.Instant now = settings.clock().instant();
        FirmwareMetadata.Root root = trustedRoot(now);
        for (JsonNode r : bundle.path("roots")) {
            Envelope env = Envelope.parse(Canonical.encode(r));
            long v = env.signed().path("version").asLong(-1);
            if (v > root.version()) {
                root = FirmwareVerifier.rotateRoot(root, env, now);
                CredentialFiles.writeOwnerOnly(settings.stateDir(), "firmware-root.json", new String(env.toJson(), StandardCharsets.UTF_8));
            }
        }
        FirmwareVerifier.rootCurrent(root, now);
        Envelope targets = Envelope.parse(Canonical.encode(bundle.path("targets")));
        FirmwareMetadata.Targets t = FirmwareVerifier.targets(root, targets, now);
        FirmwareVerifier.fresh(root, Envelope.parse(Canonical.encode(bundle.path("timestamp"))), targets, t, now);
        FirmwareVerifier.installable(t, settings.model(), settings.hardware(), installedVersionNumber());
        return t;
    }

    private FirmwareMetadata.Root trustedRoot(java.time.Instant now) {
        Path saved = settings.stateDir().resolve("firmware-root.json");
        try {
            Path f = Files.exists(saved) ? saved : settings.factoryRoot();
            // the trusted root was checked when it was installed or reached; only its keys and threshold matter now
            return FirmwareVerifier.trustRoot(Envelope.parse(Files.readAllBytes(f)), java.time.Instant.EPOCH);
        } catch (IOException e) {
            throw new FirmwareRejected("root-not-trusted", "no trusted root: " + e.getMessage());
        }
    }

    private byte[] download(HttpClient http, String release, long length) throws IOException, InterruptedException {
        ByteArrayOutputStream out = new ByteArrayOutputStream((int) Math.min(length, 64L << 20));
        int failures = 0;
        while (out.size() < length) {
            long from = out.size();
            long to = Math.min(length, from + CHUNK) - 1;
            try {
                HttpResponse<byte[]> r = get(http, "/device/v1/firmware/" + release + "/image", "bytes=" + from + "-" + to);
                if (r.statusCode() != 206 || r.body().length != to - from + 1) {
                    throw new FirmwareRejected("length-mismatch", "the server answered a range with " + r.body().length + " bytes");
                }
                out.write(r.body());
                failures = 0;
            } catch (IOException e) {
                if (++failures > 5) {
                    throw e;
                }
                Thread.sleep(Math.min(10_000, 500L << failures)); // resume where it stopped
            }
        }
        return out.toByteArray();
    }

    private HttpResponse<byte[]> get(HttpClient http, String path, String range) throws IOException, InterruptedException {
        HttpRequest.Builder b = HttpRequest.newBuilder(base.resolve(path)).timeout(Duration.ofSeconds(60)).GET();
        if (range != null) {
            b.header("Range", range);
        }
        HttpResponse<byte[]> r = http.send(b.build(), HttpResponse.BodyHandlers.ofByteArray());
        if (r.statusCode() != 200 && r.statusCode() != 206) {
            throw new IOException("GET " + path + " answered " + r.statusCode());
        }
        return r;
    }

    private void report(HttpClient http, String release, String state, String reason) throws IOException, InterruptedException {
        String body = JSON.createObjectNode().put("state", state).put("reason", reason).put("rollout", rollout).toString();
        http.send(HttpRequest.newBuilder(base.resolve("/device/v1/firmware/" + release + "/report")).timeout(Duration.ofSeconds(30))
                .header("Content-Type", "application/json").POST(HttpRequest.BodyPublishers.ofString(body)).build(),
                HttpResponse.BodyHandlers.discarding());
    }

    private void reportQuietly(HttpClient http, String release, String state, String reason) {
        try {
            report(http, release, state, reason.length() > 400 ? reason.substring(0, 400) : reason);
        } catch (IOException e) {
            // the report is best effort; the rollout sees no answer
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        }
    }

    private HttpClient client() {
        SSLParameters params = new SSLParameters();
        params.setProtocols(DeviceTls.protocols());
        return HttpClient.newBuilder().sslContext(DeviceTls.context(anchors, credential.get())).sslParameters(params)
                .connectTimeout(Duration.ofSeconds(10)).version(HttpClient.Version.HTTP_1_1).build();
    }
}
