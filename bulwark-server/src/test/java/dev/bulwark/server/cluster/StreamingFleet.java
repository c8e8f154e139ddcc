package dev.bulwark.server.cluster;

import static org.assertj.core.api.Assertions.assertThat;
import static org.awaitility.Awaitility.await;

import com.fasterxml.jackson.databind.JsonNode;
import dev.bulwark.device.Backoff;
import dev.bulwark.device.BulwarkDevice;
import dev.bulwark.protocol.DeviceId;
import dev.bulwark.server.cli.ApiClient;
import com.fasterxml.jackson.databind.ObjectMapper;
import dev.bulwark.server.config.DataDir;
import dev.bulwark.server.config.KekSettings;
import dev.bulwark.server.crypto.DataKeys;
import dev.bulwark.server.crypto.Keks;
import dev.bulwark.server.ownership.Ownership;
import dev.bulwark.server.telemetry.StoredMessage;
import dev.bulwark.server.telemetry.TelemetryStore;
import java.io.IOException;
import java.sql.Connection;
import java.sql.DriverManager;
import java.sql.SQLException;
import java.io.UncheckedIOException;
import java.net.URI;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.Executors;
import java.util.concurrent.ScheduledExecutorService;
import java.util.concurrent.TimeUnit;
import java.util.TreeMap;
import java.util.function.Supplier;

/**
 * Devices of the fault tests: real SDK devices, enrolled over EST, each streaming QoS 1 telemetry whose payload
 * carries the device's own sequence number ({@code {"seq":n}}), so what is stored can be checked message by
 * message against what the devices were acknowledged. A message leaves the SDK's buffer only when its PUBACK
 * arrives, which a node sends only after the commit: when a device's buffer is empty, everything it sent was
 * acknowledged.
 */
final class StreamingFleet implements AutoCloseable {
    /** Messages sent but not acknowledged at most, per device (the SDK's in-flight window). */
    static final int WINDOW = 32;
    private static final ObjectMapper JSON = new ObjectMapper();
    /** Paho logs every broken connection through java.util.logging; here connections break on purpose. Held: JUL keeps loggers weakly. */
    private static final java.util.logging.Logger PAHO = java.util.logging.Logger.getLogger("org.eclipse.paho.mqttv5.client");

    static {
        PAHO.setLevel(java.util.logging.Level.OFF);
    }

    private final Supplier<ApiClient> api;
    private final String token;
    private final Path caPem;
    private final Path home;
    private final Map<String, BulwarkDevice> devices = new LinkedHashMap<>();
    private final Map<String, Integer> sent = new HashMap<>();
    private ScheduledExecutorService ticker;

    /**
     * @param api   a REST API client of a live node, asked anew for each call (the node may change)
     * @param token a token of a tenant operator allowed to create devices and enrollment tokens
     */
    StreamingFleet(Supplier<ApiClient> api, String token, Path caPem) {
        this.api = api;
        this.token = token;
        this.caPem = caPem;
        try {
            this.home = Files.createTempDirectory("bulwark-fleet-");
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }

    /** Creates a tenant with a tenant-admin operator through the platform admin; returns the operator's token. */
    static String tenant(ApiClient api, String admin, String tenant) {
        ApiClient.Result t = api.post("/api/v1/tenants", admin, Map.of("id", tenant, "name", "Tenant " + tenant));
        assertThat(t.status()).as(t.body()).isEqualTo(201);
        ApiClient.Result o = api.post("/api/v1/tenants/" + tenant + "/operators", admin, Map.of("name", "ops", "roles", List.of("tenant-admin")));
        assertThat(o.status()).as(o.body()).isEqualTo(201);
        return o.json().get("token").asText();
    }

    /** Creates, enrolls (EST at {@code est}) and connects a device; waits until it is connected. */
    BulwarkDevice add(String id, URI est, List<URI> mqtt) throws InterruptedException {
        return addAll(List.of(id), est, mqtt).get(0);
    }

    /**
     * Creates the devices, then starts them all at once (each enrolls over EST at {@code est} and connects in the
     * background) and waits until each is connected.
     */
    List<BulwarkDevice> addAll(List<String> ids, URI est, List<URI> mqtt) throws InterruptedException {
        List<BulwarkDevice> added = new ArrayList<>();
        for (String id : ids) {
            ApiClient.Result created = api.get().post("/api/v1/devices", token, Map.of("id", id, "model", "meter"));
            assertThat(created.status()).as(created.body()).isEqualTo(201);
            ApiClient.Result enrollment = api.get().post("/api/v1/devices/" + id + "/enrollment-tokens", token, null);
            assertThat(enrollment.status()).as(enrollment.body()).isEqualTo(201);
            added.add(BulwarkDevice.builder(DeviceId.of(id))
                    .stateDir(home.resolve(id))
                    .trustAnchor(caPem)
                    .est(est)
                    .mqttEndpoints(mqtt)
                    .enrollmentToken(enrollment.json().get("token").asText())
                    .window(WINDOW)
                    .backoff(new Backoff(Duration.ofMillis(100), Duration.ofSeconds(1)))
                    .build());
        }
        synchronized (this) {
            for (BulwarkDevice d : added) {
                devices.put(d.id().value(), d);
                sent.put(d.id().value(), 0);
            }
        }
        added.forEach(BulwarkDevice::start);
        for (BulwarkDevice d : added) {
            assertThat(d.awaitConnected(Duration.ofSeconds(30))).as("%s connected: %s", d.id(), d.stats()).isTrue();
        }
        return added;
    }

    Map<String, BulwarkDevice> devices() {
        return devices;
    }

    /** Every {@code period}, each device queues its next message. */
    synchronized void stream(Duration period) {
        ticker = Executors.newSingleThreadScheduledExecutor(r -> {
            Thread t = new Thread(r, "fleet-stream");
            t.setDaemon(true);
            return t;
        });
        ticker.scheduleAtFixedRate(this::tick, 0, period.toMillis(), TimeUnit.MILLISECONDS);
    }

    private synchronized void tick() {
        devices.forEach((id, d) -> {
            int seq = sent.get(id);
            d.publishTelemetry(("{\"seq\":" + seq + "}").getBytes(StandardCharsets.UTF_8)); // a drop is counted, checked at the end
            sent.put(id, seq + 1);
        });
    }

    /** Stops queueing new messages (what is queued still goes out). */
    void stopStreaming() {
        ScheduledExecutorService t;
        synchronized (this) {
            t = ticker;
            ticker = null;
        }
        if (t != null) {
            t.shutdown();
            try {
                assertThat(t.awaitTermination(5, TimeUnit.SECONDS)).isTrue();
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
            }
        }
    }

    /** Messages the devices were acknowledged so far, all together. */
    long acknowledged() {
        return devices.values().stream().mapToLong(d -> d.stats().acknowledged()).sum();
    }

    /**
     * Waits until no acknowledgement has arrived for {@code quiet} (polling every 50 ms; acknowledgements of commits
     * made before the pause may still be arriving when it starts); returns the count they stopped at.
     */
    long awaitAcknowledgementsPaused(Duration quiet, Duration within) {
        long[] last = {acknowledged()};
        await("acknowledgements paused").during(quiet).atMost(within).pollInterval(Duration.ofMillis(50)).until(() -> {
            long now = acknowledged();
            boolean same = now == last[0];
            last[0] = now;
            return same;
        });
        return last[0];
    }

    synchronized int sent(String id) {
        return sent.get(id);
    }

    /** Waits until every device's buffer is empty: every message sent was acknowledged. */
    void awaitAllAcknowledged(Duration within) {
        await("every message acknowledged").atMost(within).pollInterval(Duration.ofMillis(100)).until(() ->
                devices.entrySet().stream().allMatch(e -> e.getValue().stats().acknowledged() == sent(e.getKey())
                        && e.getValue().stats().buffered() == 0));
        devices.values().forEach(d -> assertThat(d.stats().dropped()).as("dropped by %s", d.id()).isZero());
    }

    /**
     * Every telemetry sequence number stored per device, read from the database itself: the telemetry log and the
     * segments, in one snapshot (so a compaction moving messages between them meanwhile neither hides nor doubles
     * any), payloads opened with the data keys of the shared data directory. Independent of any node: what a node
     * acknowledged is here whether that node lives or not.
     */
    static Map<String, List<Integer>> storedInDatabase(String jdbcUrl, Path data) {
        DataDir dir = new DataDir(data);
        DataKeys keys = new DataKeys(dir, Keks.open(KekSettings.dataDirectory(), dir));
        Map<String, List<Integer>> out = new TreeMap<>();
        try (Connection c = DriverManager.getConnection(jdbcUrl)) {
            c.setAutoCommit(false);
            c.setTransactionIsolation(Connection.TRANSACTION_REPEATABLE_READ);
            c.setReadOnly(true);
            for (StoredMessage m : TelemetryStore.readAll(c)) {
                if (!m.kind().equals("telemetry")) {
                    continue;
                }
                byte[] clear = m.keyId() == null ? m.payload()
                        : keys.open(m.keyId(), m.payload(), Ownership.aad(m.tenantId(), m.deviceId(), m.kind())).orElseThrow();
                out.computeIfAbsent(m.deviceId(), d -> new ArrayList<>()).add(JSON.readTree(clear).get("seq").asInt());
            }
            c.rollback();
        } catch (SQLException | IOException e) {
            throw new IllegalStateException(e);
        }
        return out;
    }

    /** Every telemetry sequence number per device as the REST API of a node serves it (what {@code api} reaches). */
    Map<String, List<Integer>> storedViaApi() {
        Map<String, List<Integer>> out = new TreeMap<>();
        devices.keySet().forEach(id -> out.put(id, stored(id)));
        return out;
    }

    /**
     * Checks that {@code stored} holds every message of every device: each sequence number from 0 to what it sent.
     * Fails with what is missing; returns the duplicates per device (a message stored twice: its commit happened,
     * its PUBACK did not reach the device, which sent it again).
     */
    Map<String, Integer> assertEveryMessageStored(Map<String, List<Integer>> stored) {
        Map<String, String> missing = new LinkedHashMap<>();
        Map<String, Integer> duplicates = new LinkedHashMap<>();
        for (String id : devices.keySet()) {
            int total = sent(id);
            boolean[] seen = new boolean[total];
            int dup = 0;
            for (int s : stored.getOrDefault(id, List.of())) {
                assertThat(s).as("%s stored a message it never sent", id).isBetween(0, total - 1);
                if (seen[s]) {
                    dup++;
                }
                seen[s] = true;
            }
            List<Integer> lost = new ArrayList<>();
            for (int s = 0; s < total; s++) {
                if (!seen[s]) {
                    lost.add(s);
                }
            }
            if (!lost.isEmpty()) {
                missing.put(id, lost.size() + " of " + total + ": " + ranges(lost));
            }
            duplicates.put(id, dup);
        }
        assertThat(missing).as("acknowledged but not stored").isEmpty();
        return duplicates;
    }

    /** {@code [a-b, c, ...]}: consecutive numbers as ranges. */
    private static String ranges(List<Integer> sorted) {
        List<String> out = new ArrayList<>();
        int i = 0;
        while (i < sorted.size()) {
            int j = i;
            while (j + 1 < sorted.size() && sorted.get(j + 1) == sorted.get(j) + 1) {
                j++;
            }
            out.add(i == j ? String.valueOf(sorted.get(i)) : sorted.get(i) + "-" + sorted.get(j));
            i = j + 1;
        }
        return out.toString();
    }

    /** The sequence numbers stored for {@code id}, in the order the node serves them, duplicates included. */
    List<Integer> stored(String id) {
        List<Integer> seqs = new ArrayList<>();
        String cursor = null;
        do {
            ApiClient.Result r = api.get().get("/api/v1/devices/" + id + "/telemetry?limit=1000" + (cursor == null ? "" : "&cursor=" + cursor), token);
            assertThat(r.status()).as(r.body()).isEqualTo(200);
            JsonNode page = r.json();
            page.get("items").forEach(i -> seqs.add(i.get("payload").get("seq").asInt()));
            cursor = page.get("nextCursor").isNull() ? null : page.get("nextCursor").asText();
        } while (cursor != null);
        return seqs;
    }

    @Override
    public void close() {
        stopStreaming();
        devices.values().forEach(BulwarkDevice::close);
        try (var files = Files.walk(home)) {
            files.sorted(java.util.Comparator.reverseOrder()).forEach(p -> p.toFile().delete());
        } catch (IOException e) {
            // best effort
        }
    }
}
