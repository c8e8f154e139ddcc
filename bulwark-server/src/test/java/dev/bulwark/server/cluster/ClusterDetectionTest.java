package dev.bulwark.server.cluster;

import static org.assertj.core.api.Assertions.assertThat;
import static org.awaitility.Awaitility.await;

import com.fasterxml.jackson.databind.JsonNode;
import dev.bulwark.server.config.DetectionSettings;
import dev.bulwark.server.crypto.Secrets;
import dev.bulwark.server.monitor.SourceGuard;
import dev.bulwark.server.testkit.MqttKit;
import dev.bulwark.server.testkit.RawMqttClient;
import dev.bulwark.server.testkit.TestCluster;
import dev.bulwark.server.testkit.TestServer;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Optional;
import java.util.Set;
import java.util.stream.Collectors;
import java.util.stream.StreamSupport;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

/**
 * Three nodes, real Kafka and PostgreSQL, real MQTT clients over TLS: the detector sees the failures of every
 * node as one stream (a brute force spread over the nodes is one attack, one alert, one ban), a ban is enforced
 * and lifted on every node, and a tenant's connection quota holds across the nodes.
 */
class ClusterDetectionTest {
    private static final int QUOTA = 3;
    private static final Duration BOUND = Duration.ofSeconds(5); // "within a second", on a loaded 2-core machine
    static TestCluster cluster;

    @BeforeAll
    static void start() {
        cluster = TestCluster.start(3, b -> b
                // no tarpit delays in the way (a source's tarpit is per node anyway); brute force at 5 secrets
                .detection(DetectionSettings.defaults().withTarpit(100, Duration.ofMillis(200)))
                .tenantMaxConnections(QUOTA).tenantMessagesPerSecond(300));
    }

    @AfterAll
    static void stop() {
        if (cluster != null) {
            cluster.close();
        }
    }

    private static TestServer node(int i) {
        return cluster.node(i);
    }

    private static String randomToken() {
        return "bwd." + Secrets.randomHex(8) + "." + Secrets.randomBase64Url(32);
    }

    /** CONNECT to node {@code i} with a user name and token from {@code from}; the CONNACK code. */
    private static int tokenConnect(int i, MqttKit kit, String from, String username, String token) {
        try (RawMqttClient c = new RawMqttClient(node(i).node().mqttPort(), kit.ca(), null, null, from)) {
            return c.connect(username.substring(0, username.indexOf('@')), username, token);
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }

    private static Optional<SourceGuard.Ban> ban(int i, String address) {
        return node(i).node().monitor().guard().banned(address);
    }

    private static List<JsonNode> items(TestServer via, String path, String token) {
        return StreamSupport.stream(via.api().get(path, token).json().get("items").spliterator(), false).toList();
    }

    @Test
    void a_brute_force_spread_over_three_nodes_is_one_attack_one_alert_one_ban_enforced_and_lifted_everywhere() {
        String admin = node(0).tenantWithOperator("acme", "root", "tenant-admin");
        String analyst = node(0).operator("acme", "sam", "security-analyst");
        MqttKit kit = new MqttKit(node(0), admin);
        node(0).createDevice(admin, "thermo-1", "thermo");
        String victimToken = kit.deviceToken("thermo-1");
        // one secret is one credential on every node: the nodes share the fingerprint key
        assertThat(node(1).node().monitor().fingerprint("same secret")).isEqualTo(node(2).node().monitor().fingerprint("same secret"));

        // five guessed tokens (the brute-force threshold) against one identity, round-robin over the nodes: no node
        // sees more than two of them, only the cluster sees five
        int threshold = DetectionSettings.defaults().bruteForceSecrets();
        for (int n = 0; n < threshold; n++) {
            assertThat(tokenConnect(n % 3, kit, "127.0.0.2", "thermo-1@acme", randomToken())).isEqualTo(4); // bad user name or password
        }
        await("the brute-force alert").atMost(Duration.ofSeconds(15)).until(() -> node(2).count(
                "SELECT COUNT(*) FROM security_alerts WHERE label = 'brute-force' AND subject = 'acme/thermo-1'") >= 1);
        // the ban is enforced on every node
        long found = System.nanoTime();
        for (int i = 0; i < 3; i++) {
            int n = i;
            within(found, "the ban enforced on node " + n, () -> ban(n, "127.0.0.2").isPresent());
        }
        Set<String> ids = new java.util.TreeSet<>();
        for (int i = 0; i < 3; i++) {
            ids.add(ban(i, "127.0.0.2").orElseThrow().id());
            // refused before authentication on each node, even with the device's own token (never used from there)
            assertThat(tokenConnect(i, kit, "127.0.0.2", "thermo-1@acme", victimToken)).as("node %d", i).isEqualTo(5);
            // while the device, from its own address, connects on each node
            assertThat(tokenConnect(i, kit, "127.0.0.1", "thermo-1@acme", victimToken)).as("node %d", i).isZero();
        }
        assertThat(ids).as("one ban, the same on every node").hasSize(1);
        String banId = ids.iterator().next();
        long issued = 0;
        for (int i = 0; i < 3; i++) {
            issued += node(i).node().monitor().guard().bansIssued();
        }
        assertThat(issued).as("bans issued in the cluster").isEqualTo(1);

        // one alert for the attack: the node that folded the fifth failure raised it; the others only folded it
        List<JsonNode> alerts = items(node(1), "/api/v1/security/alerts?label=brute-force", analyst);
        assertThat(alerts).hasSize(1);
        JsonNode alert = alerts.get(0);
        assertThat(alert.get("subject").asText()).isEqualTo("acme/thermo-1");
        assertThat(alert.get("evidence").get("distinctSecrets").asInt()).isEqualTo(threshold);
        assertThat(alert.get("evidence").get("sources").toString()).contains("127.0.0.2").doesNotContain("127.0.0.1");
        assertThat(ban(0, "127.0.0.2").orElseThrow().alertId()).isEqualTo(alert.get("id").asText());
        assertThat(node(0).count("SELECT COUNT(*) FROM security_alerts WHERE label IN ('brute-force', 'distributed-attack', "
                + "'enumeration', 'credential-stuffing')")).isEqualTo(1);
        // the device reconnecting on the three nodes is one retry, seen by the cluster: one more alert, raised once
        await().atMost(BOUND).until(() -> raised() == 2);
        assertThat(node(0).count("SELECT COUNT(*) FROM security_alerts WHERE label = 'retry' AND tenant_id = 'acme'")).isEqualTo(1);
        for (int i = 0; i < 3; i++) {
            assertThat(items(node(i), "/api/v1/security/bans", analyst)).extracting(b -> b.get("id").asText()).containsExactly(banId);
        }

        // a node that starts later replays the bans in force
        cluster.stop(2);
        cluster.restart(2);
        assertThat(ban(2, "127.0.0.2")).map(SourceGuard.Ban::id).contains(banId);
        assertThat(tokenConnect(2, kit, "127.0.0.2", "thermo-1@acme", victimToken)).isEqualTo(5);

        // lifted through one node's API: every node admits the source again
        assertThat(node(1).api().delete("/api/v1/security/bans/" + banId, analyst).status()).isEqualTo(200);
        long lifted = System.nanoTime();
        for (int i = 0; i < 3; i++) {
            int n = i;
            within(lifted, "the lift enforced on node " + n, () -> ban(n, "127.0.0.2").isEmpty());
            assertThat(tokenConnect(i, kit, "127.0.0.2", "thermo-1@acme", victimToken)).as("node %d", i).isZero();
            assertThat(items(node(i), "/api/v1/security/bans", analyst)).isEmpty();
        }
        // the device reconnecting on every node after the lift updated the one retry alert; no other alert came
        assertThat(node(0).count("SELECT COUNT(*) FROM security_alerts WHERE tenant_id = 'acme'")).isEqualTo(2);
    }

    private static long raised() {
        long n = 0;
        for (int i = 0; i < 3; i++) {
            n += node(i).node().monitor().alertsRaised();
        }
        return n;
    }

    /** Waits for {@code done} at most {@link #BOUND}; a failure tells how long it had been since {@code fromNanos}. */
    private static void within(long fromNanos, String what, java.util.concurrent.Callable<Boolean> done) {
        try {
            await().atMost(BOUND).until(done);
        } catch (org.awaitility.core.ConditionTimeoutException e) {
            throw new AssertionError(what + ": not within " + BOUND.toMillis() + " ms (" + (System.nanoTime() - fromNanos) / 1_000_000
                    + " ms since)", e);
        }
    }

    @Test
    void a_tenant_connection_quota_holds_across_the_nodes_and_the_message_rate_is_shared() throws Exception {
        String admin = node(0).tenantWithOperator("fleet", "root", "tenant-admin");
        MqttKit kit = new MqttKit(node(0), admin);
        List<MqttKit.Device> devices = new ArrayList<>();
        for (int d = 0; d <= QUOTA; d++) {
            devices.add(kit.device("f-" + d));
        }
        List<RawMqttClient> open = new ArrayList<>();
        try {
            // QUOTA devices, one per node
            for (int d = 0; d < QUOTA; d++) {
                MqttKit.Device dev = devices.get(d);
                RawMqttClient c = new RawMqttClient(node(d % 3).node().mqttPort(), kit.ca(), dev.cert(), dev.key());
                open.add(c);
                assertThat(c.connect(dev.id())).as(dev.id()).isZero();
            }
            // once the nodes' reports have settled (every REPORT_MS), each node counts the whole tenant
            awaitCounted("fleet", QUOTA);
            for (int i = 0; i < 3; i++) {
                assertThat(((ClusterQuotas) node(i).node().quotas()).localConnections("fleet")).isEqualTo(1);
                MqttKit.Device extra = devices.get(QUOTA);
                try (RawMqttClient c = new RawMqttClient(node(i).node().mqttPort(), kit.ca(), extra.cert(), extra.key())) {
                    assertThat(c.connect(extra.id())).as("the device over the quota, on node %d", i).isEqualTo(3); // server unavailable
                }
            }
            await().atMost(BOUND).until(() -> node(0).count("SELECT COUNT(*) FROM security_events WHERE type = "
                    + "'tenant-connection-quota-exceeded' AND tenant_id = 'fleet'") == 3);

            // a slot freed on one node is free on all: the device over the quota now connects, on another node
            open.remove(1).close();
            awaitCounted("fleet", QUOTA - 1);
            MqttKit.Device extra = devices.get(QUOTA);
            RawMqttClient c = new RawMqttClient(node(2).node().mqttPort(), kit.ca(), extra.cert(), extra.key());
            open.add(c);
            assertThat(c.connect(extra.id())).isZero();
            awaitCounted("fleet", QUOTA);
        } finally {
            for (RawMqttClient c : open) {
                c.close();
            }
        }

        // the message rate: each of the three live nodes admits its third of the tenant's 300 messages per second
        for (int i = 0; i < 3; i++) {
            ClusterQuotas q = (ClusterQuotas) node(i).node().quotas();
            assertThat(q.liveNodes()).isEqualTo(3);
            int admitted = 0;
            for (int m = 0; m < 1_000; m++) {
                if (q.message("rate-probe")) {
                    admitted++;
                }
            }
            assertThat(admitted).as("node %d", i).isBetween(100, 110); // the burst of one share, and what refills meanwhile
        }
    }

    private static void awaitCounted(String tenant, int n) {
        long from = System.nanoTime();
        for (int i = 0; i < 3; i++) {
            int node = i;
            within(from, "node " + node + " counting " + n + " connections of " + tenant,
                    () -> node(node).node().quotas().connections(tenant) == n);
        }
        Set<Integer> counts = cluster.nodes().stream().map(s -> s.node().quotas().connections(tenant)).collect(Collectors.toSet());
        assertThat(counts).containsExactly(n);
    }
}
