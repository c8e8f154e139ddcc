package dev.bulwark.server.cluster;

import static org.assertj.core.api.Assertions.assertThat;
import static org.awaitility.Awaitility.await;

import dev.bulwark.protocol.DeviceId;
import dev.bulwark.protocol.TenantId;
import dev.bulwark.server.cli.ApiClient;
import dev.bulwark.server.device.CredentialStore;
import dev.bulwark.server.device.DevicePrincipal;
import dev.bulwark.server.device.LiveSessions;
import dev.bulwark.server.testkit.KafkaBroker;
import dev.bulwark.server.testkit.MqttKit;
import dev.bulwark.server.testkit.TestCluster;
import dev.bulwark.server.testkit.TestServer;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.concurrent.TimeUnit;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.MethodOrderer;
import org.junit.jupiter.api.Order;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.TestInstance;
import org.junit.jupiter.api.TestMethodOrder;

/**
 * The backstop of containment across nodes: with Kafka stopped, a quarantine through node 0 still closes the
 * device's session on node 1 (found by node 1's session sweep against the database), and a second connection of
 * a device on node 0 still takes over its session on node 1 (the lease moved); once Kafka is back, terminations
 * travel on the control topic again. Two nodes on a Kafka broker of their own, real PostgreSQL, real devices.
 */
@TestInstance(TestInstance.Lifecycle.PER_CLASS)
@TestMethodOrder(MethodOrderer.OrderAnnotation.class)
class SessionSweepTest {
    /** "Within a second" across nodes, with room for a loaded 2-core machine. */
    static final Duration BOUND = Duration.ofSeconds(5);
    /** A sweep runs within one interval; the margin is for the loaded machine. */
    static final Duration SWEPT = SessionSweep.INTERVAL.plus(Duration.ofSeconds(5));
    static final TenantId ACME = TenantId.of("acme");
    static final Pattern SWEEPS = Pattern.compile("^bulwark_cluster_session_sweeps_total(?:\\{[^}]*})? (\\S+)$", Pattern.MULTILINE);

    KafkaBroker broker;
    TestCluster cluster;
    String token;
    MqttKit kit;
    Path ca;

    @BeforeAll
    void start() {
        broker = KafkaBroker.start();
        cluster = TestCluster.start(2, broker, b -> { });
        token = cluster.node(0).tenantWithOperator("acme", "ops", "tenant-admin");
        kit = new MqttKit(cluster.node(0), token);
        ca = kit.ca();
    }

    @AfterAll
    void stop() {
        if (cluster != null) {
            cluster.close();
        }
        if (broker != null) {
            broker.close();
        }
    }

    TestServer node(int i) {
        return cluster.node(i);
    }

    ClusterSessions sessions(int i) {
        return (ClusterSessions) node(i).node().sessions();
    }

    boolean connectedOn(int i, String device) {
        return node(i).node().sessions().connected(ACME, DeviceId.of(device));
    }

    DeviceConnection connect(int i, MqttKit.Device d, String from) {
        DeviceConnection c = DeviceConnection.certificate(node(i), ca, d.cert(), d.key(), d.id(), from);
        assertThat(c.connack()).as("CONNACK of %s on node-%d", d.id(), i).isZero();
        return c;
    }

    long events(String type, String device, String reason) {
        return node(0).count("SELECT COUNT(*) FROM security_events WHERE type = '" + type + "' AND identity LIKE 'device:acme/" + device
                + " %' AND reason = '" + reason + "'");
    }

    long sweepsOnNode1() {
        ApiClient.Result r = node(1).api().get("/metrics", cluster.adminToken());
        assertThat(r.status()).as(r.body()).isEqualTo(200);
        Matcher m = SWEEPS.matcher(r.body());
        assertThat(m.find()).as("the sweep counter in node 1's metrics").isTrue();
        return (long) Double.parseDouble(m.group(1));
    }

    @Test
    @Order(1)
    void with_kafka_down_the_sweep_closes_a_quarantined_device_and_a_taken_over_session_on_the_other_node() {
        MqttKit.Device quarantined = kit.device("w-quarantine");
        MqttKit.Device clone = kit.device("w-clone");
        try (DeviceConnection live = connect(1, quarantined, "127.0.40.1"); DeviceConnection first = connect(1, clone, "127.0.40.2")) {
            await().atMost(BOUND).until(() -> sessions(1).leaseEpoch(ACME, DeviceId.of(quarantined.id())).isPresent()
                    && sessions(1).leaseEpoch(ACME, DeviceId.of(clone.id())).isPresent());
            broker.stop();

            long t0 = System.nanoTime();
            ApiClient.Result r = node(0).api().post("/api/v1/devices/w-quarantine/quarantine", token, Map.of("reason", "suspected clone"));
            long apiMs = TimeUnit.NANOSECONDS.toMillis(System.nanoTime() - t0);
            assertThat(r.status()).as(r.body()).isEqualTo(200);
            assertThat(apiMs).as("the quarantine answered in %d ms with Kafka down (its publish does not hold the request)", apiMs)
                    .isLessThan(3_000);
            // the same device connects to node 0: its lease moves there, and the announcement cannot reach node 1
            try (DeviceConnection second = connect(0, clone, "127.0.40.3")) {
                await().atMost(SWEPT).alias("the quarantined device's session on node-1 closed by the sweep")
                        .until(() -> !connectedOn(1, quarantined.id()));
                long closedMs = TimeUnit.NANOSECONDS.toMillis(live.closedAtNanos().join() - t0);
                assertThat(closedMs).as("closed %d ms after the quarantine", closedMs).isLessThan(SWEPT.toMillis());
                await().atMost(BOUND).until(() -> events("session-terminated", quarantined.id(),
                        "device quarantined" + SessionSweep.FOUND) == 1);

                await().atMost(SWEPT).alias("the clone's first session, on node-1, closed by the sweep")
                        .until(() -> !connectedOn(1, clone.id()));
                assertThat(connectedOn(0, clone.id())).isTrue();
                assertThat(second.open()).isTrue();
                await().atMost(BOUND).until(() -> node(0).count("SELECT COUNT(*) FROM security_events WHERE type = 'duplicate-identity' "
                        + "AND identity LIKE 'device:acme/w-clone %' AND reason = 'a second connection with the same identity took over "
                        + "the session" + SessionSweep.FOUND + "' AND detail = 'previous-node:node-1 new-node:node-0'") == 1);
            }
        } finally {
            broker.restart();
        }
        assertThat(connectedOn(1, quarantined.id())).isFalse();
    }

    @Test
    @Order(2)
    void once_kafka_is_back_a_quarantine_through_node_0_reaches_node_1_on_the_control_topic() {
        MqttKit.Device d = kit.device("w-after");
        long heardOn0 = sessions(0).cluster().bus().received();
        try (DeviceConnection live = connect(1, d, "127.0.40.4")) {
            // the bus works again: node 0 reads node 1's announcement of this session
            await().atMost(Duration.ofSeconds(30)).until(() -> sessions(1).leaseEpoch(ACME, DeviceId.of(d.id())).isPresent());
            await().atMost(Duration.ofSeconds(30)).until(() -> sessions(0).cluster().bus().received() > heardOn0);
            // right after a sweep of node 1, so that the next one is an interval away: the control topic closes it first
            long sweeps = sweepsOnNode1();
            await().atMost(SWEPT).pollInterval(Duration.ofMillis(20)).until(() -> sweepsOnNode1() > sweeps);
            long t0 = System.nanoTime();
            ApiClient.Result r = node(0).api().post("/api/v1/devices/w-after/quarantine", token, Map.of("reason", "suspected clone"));
            assertThat(r.status()).as(r.body()).isEqualTo(200);
            await().atMost(BOUND).until(() -> !connectedOn(1, d.id()));
            long closedMs = TimeUnit.NANOSECONDS.toMillis(live.closedAtNanos().join() - t0);
            assertThat(closedMs).as("closed %d ms after the quarantine", closedMs).isLessThan(BOUND.toMillis());
            await().atMost(BOUND).until(() -> events("session-terminated", d.id(), "device quarantined") == 1);
            assertThat(events("session-terminated", d.id(), "device quarantined" + SessionSweep.FOUND)).isZero();
        }
        // the first test's quarantine, delivered late once Kafka was back, closed nothing twice
        assertThat(node(0).count("SELECT COUNT(*) FROM security_events WHERE type = 'session-terminated' AND identity LIKE "
                + "'device:acme/w-quarantine %'")).isEqualTo(1);
    }

    /** A session of the measurement: no connection behind it, only what the sweep asks of it. */
    record Counted(DevicePrincipal device, List<String> terminations) implements LiveSessions.Session {
        @Override
        public void terminate(String reason) {
            synchronized (terminations) {
                terminations.add(device.device().value() + ": " + reason);
            }
        }
    }

    /**
     * The cost of one sweep of 10,000 sessions (two queries per 1,000), of which ten are refused now; the timing is
     * written to {@code target/session-sweep-cost.txt}, not asserted.
     */
    @Test
    @Order(3)
    void a_sweep_of_ten_thousand_sessions_checks_them_in_batches_and_finds_the_ten_refused() throws IOException {
        int n = 10_000;
        node(0).sql(h -> {
            h.execute("INSERT INTO devices (tenant_id, id, model, status, created_ms, updated_ms) "
                    + "SELECT 'acme', 'm-' || g, 'thermo', 'active', 1, 1 FROM generate_series(1, " + n + ") g");
            h.execute("INSERT INTO device_certificates (tenant_id, device_id, serial, ca_id, fingerprint, key_fingerprint, subject, "
                    + "not_before_ms, not_after_ms, status, created_ms, pem) SELECT 'acme', 'm-' || g, 'ms' || g, 'platform', 'mfp' || g, "
                    + "'mkfp' || g, 'CN=m', 0, 4102444800000, 'active', 1, 'PEM' FROM generate_series(1, " + n + ") g");
            h.execute("INSERT INTO device_leases (tenant_id, device_id, node_id, epoch, session_id, source, since_ms) "
                    + "SELECT 'acme', 'm-' || g, 'node-1', 1, 's', '127.0.0.1:1', 1 FROM generate_series(1, " + n + ") g");
            h.execute("UPDATE devices SET status = 'quarantined' WHERE tenant_id = 'acme' AND id IN (SELECT 'm-' || (g * 997) "
                    + "FROM generate_series(1, 10) g)");
            return null;
        });
        List<String> terminations = new ArrayList<>();
        List<ClusterSessions.Leased> live = new ArrayList<>(n);
        for (int i = 1; i <= n; i++) {
            DevicePrincipal p = new DevicePrincipal(ACME, DeviceId.of("m-" + i), "certificate:platform/ms" + i);
            live.add(new ClusterSessions.Leased(new Counted(p, terminations), 1));
        }
        List<Long> micros = new ArrayList<>();
        try (SessionSweep sweep = SessionSweep.start(sessions(1), new CredentialStore(), Duration.ofHours(1))) {
            for (int run = 0; run < 5; run++) {
                terminations.clear();
                SessionSweep.Result r = sweep.check(live);
                micros.add(r.micros());
                assertThat(r.checked()).isEqualTo(n);
                assertThat(r.refused()).isEqualTo(10);
                assertThat(r.takenOver()).isZero();
            }
        }
        assertThat(terminations).hasSize(10).allSatisfy(t -> assertThat(t).endsWith(": device quarantined" + SessionSweep.FOUND))
                .contains("m-997: device quarantined" + SessionSweep.FOUND, "m-9970: device quarantined" + SessionSweep.FOUND);
        List<Long> sorted = micros.stream().sorted().toList();
        Path out = Path.of("target", "session-sweep-cost.txt");
        Files.createDirectories(out.getParent());
        Files.writeString(out, "sweep of " + n + " sessions (PostgreSQL, " + CredentialStore.KEYS_PER_QUERY + " keys per query): runs "
                + micros + " us, median " + sorted.get(sorted.size() / 2) + " us\n");
    }
}
