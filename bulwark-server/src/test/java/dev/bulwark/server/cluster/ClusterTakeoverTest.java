package dev.bulwark.server.cluster;

import static org.assertj.core.api.Assertions.assertThat;
import static org.awaitility.Awaitility.await;

import com.fasterxml.jackson.databind.JsonNode;
import dev.bulwark.protocol.DeviceId;
import dev.bulwark.protocol.TenantId;
import dev.bulwark.server.config.DetectionSettings;
import dev.bulwark.server.testkit.MqttKit;
import dev.bulwark.server.testkit.TestCluster;
import dev.bulwark.server.testkit.TestServer;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.OptionalLong;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.TimeUnit;
import java.util.stream.IntStream;
import java.util.stream.StreamSupport;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.TestInstance;

/**
 * One live session per device in the whole cluster: a second connection of the same identity on another node
 * takes over the first, {@code duplicate-identity} is recorded once with both sources and both nodes, the
 * takeover feeds the clone detector of the node whose session was taken over, and the device's lease (with its
 * epoch) points at the node that holds the one session left. Three nodes, real Kafka, real PostgreSQL.
 */
@TestInstance(TestInstance.Lifecycle.PER_CLASS)
class ClusterTakeoverTest {
    static final Duration BOUND = ClusterContainmentTest.BOUND;
    static final TenantId ACME = TenantId.of("acme");

    TestCluster cluster;
    String token;
    MqttKit kit;
    Path ca;

    @BeforeAll
    void start() {
        DetectionSettings d = DetectionSettings.defaults();
        // two takeovers from different places mark a clone (the default is three)
        DetectionSettings twoTakeovers = new DetectionSettings(d.window(), d.bruteForceSecrets(), d.distributedSources(), d.enumerationIds(),
                d.misconfiguredRepeats(), 2, d.floodingViolations(), d.tarpitFreeFailures(), d.tarpitMax(), d.banBase(), d.banMax());
        cluster = TestCluster.start(3, b -> b.detection(twoTakeovers));
        token = cluster.node(0).tenantWithOperator("acme", "ops", "tenant-admin");
        kit = new MqttKit(cluster.node(0), token);
        ca = kit.ca();
    }

    @AfterAll
    void stop() {
        cluster.close();
    }

    TestServer node(int i) {
        return cluster.node(i);
    }

    DeviceConnection connect(int node, MqttKit.Device d, String from) {
        DeviceConnection c = DeviceConnection.certificate(node(node), ca, d.cert(), d.key(), d.id(), from);
        assertThat(c.connack()).as("CONNACK of %s on node-%d", d.id(), node).isZero();
        return c;
    }

    boolean connectedOn(int node, String device) {
        return node(node).node().sessions().connected(ACME, DeviceId.of(device));
    }

    List<Integer> holders(String device) {
        return IntStream.range(0, cluster.size()).filter(i -> connectedOn(i, device)).boxed().toList();
    }

    OptionalLong leaseEpoch(int node, String device) {
        return ((ClusterSessions) node(node).node().sessions()).leaseEpoch(ACME, DeviceId.of(device));
    }

    /** The device's lease row: node and epoch. */
    Object[] lease(String device) {
        return node(0).sql(h -> h.createQuery("SELECT node_id, epoch FROM device_leases WHERE tenant_id = 'acme' AND device_id = :d")
                .bind("d", device).map((rs, ctx) -> new Object[] {rs.getString(1), rs.getLong(2)}).findOne().orElse(null));
    }

    List<JsonNode> duplicateIdentityEvents(String device) {
        JsonNode items = node(2).api().get("/api/v1/security/events?type=duplicate-identity&limit=1000", token).json().get("items");
        return StreamSupport.stream(items.spliterator(), false)
                .filter(e -> e.get("identity").asText().startsWith("device:acme/" + device + " ")).toList();
    }

    @Test
    void a_second_connection_on_another_node_takes_over_and_both_sources_and_nodes_are_recorded() {
        MqttKit.Device d = kit.device("t-clone");
        try (DeviceConnection first = connect(0, d, "127.0.9.1")) {
            await().atMost(BOUND).until(() -> leaseEpoch(0, d.id()).isPresent());
            long firstEpoch = leaseEpoch(0, d.id()).getAsLong();
            assertThat(lease(d.id())).containsExactly("node-0", firstEpoch);

            long t0 = System.nanoTime();
            try (DeviceConnection second = connect(1, d, "127.0.9.2")) {
                await().atMost(BOUND).alias("the first session, on node-0, closed").until(() -> !connectedOn(0, d.id()));
                long closedMs = TimeUnit.NANOSECONDS.toMillis(first.closedAtNanos().join() - t0);
                assertThat(closedMs).as("the first connection closed %d ms after the second connected", closedMs)
                        .isLessThan(BOUND.toMillis());
                assertThat(holders(d.id())).containsExactly(1);
                assertThat(second.open()).isTrue();
                // the lease is the second session's, one epoch later; node 0 holds none any more
                assertThat(lease(d.id())).containsExactly("node-1", firstEpoch + 1);
                assertThat(leaseEpoch(1, d.id())).hasValue(firstEpoch + 1);
                assertThat(leaseEpoch(0, d.id())).isEmpty();

                await().atMost(Duration.ofSeconds(10)).until(() -> !duplicateIdentityEvents(d.id()).isEmpty());
                JsonNode e = duplicateIdentityEvents(d.id()).get(0);
                assertThat(e.get("identity").asText()).contains("previous-source:" + first.source(), "new-source:" + second.source());
                assertThat(e.get("detail").asText()).isEqualTo("previous-node:node-0 new-node:node-1");
                assertThat(e.get("sourceAddress").asText()).isEqualTo("127.0.9.2");
                assertThat(e.get("channel").asText()).isEqualTo("mqtt");
            }
            // the one session left ended normally: its lease is released (the epoch stays counted)
            await().atMost(BOUND).until(() -> "".equals(lease(d.id())[0]));
            assertThat(lease(d.id())[1]).isEqualTo(firstEpoch + 1);
            assertThat(duplicateIdentityEvents(d.id())).as("one takeover, recorded by one node").hasSize(1);
        }
    }

    /**
     * The clone detector counts a takeover across nodes where the session was taken over: one takeover on node 0
     * itself, then one by node 1, make the two that mark a clone on node 0. Recorded on node 1, or on no node, the
     * second would not count with the first and no alert would be raised.
     */
    @Test
    void a_takeover_across_nodes_counts_for_the_clone_detector_of_the_node_whose_session_was_taken_over() {
        MqttKit.Device d = kit.device("t-detected");
        try (DeviceConnection a = connect(0, d, "127.0.10.1")) {
            await().atMost(BOUND).until(() -> connectedOn(0, d.id()));
            try (DeviceConnection b = connect(0, d, "127.0.10.2")) {
                await().atMost(BOUND).until(() -> !a.open());
                await().atMost(BOUND).until(() -> leaseEpoch(0, d.id()).isPresent());
                try (DeviceConnection c = connect(1, d, "127.0.10.3")) {
                    await().atMost(BOUND).until(() -> !b.open() && holders(d.id()).equals(List.of(1)));
                    await().atMost(Duration.ofSeconds(15)).until(() -> node(0).count("SELECT COUNT(*) FROM security_alerts WHERE label = "
                            + "'cloned-device' AND subject = 'acme/t-detected'") > 0);
                    assertThat(node(0).count("SELECT COUNT(*) FROM security_alerts WHERE label = 'cloned-device' AND subject = "
                            + "'acme/t-detected'")).isEqualTo(1);
                    await().atMost(Duration.ofSeconds(10)).until(() -> duplicateIdentityEvents(d.id()).size() >= 2);
                    assertThat(duplicateIdentityEvents(d.id())).hasSize(2);
                    assertThat(c.open()).isTrue();
                }
            }
        }
    }

    /**
     * Connections of one identity arriving at two nodes at the same moment, round after round: each time exactly
     * one session is left in the cluster, the one whose lease is current.
     */
    @Test
    void simultaneous_connections_on_two_nodes_leave_exactly_one_session_holding_the_lease() throws Exception {
        MqttKit.Device d = kit.device("t-race");
        List<DeviceConnection> all = new ArrayList<>();
        try {
            for (int round = 0; round < 4; round++) {
                String from0 = "127.0.11." + (1 + 2 * round);
                String from1 = "127.0.11." + (2 + 2 * round);
                CompletableFuture<DeviceConnection> on0 = CompletableFuture.supplyAsync(() -> connect(0, d, from0));
                CompletableFuture<DeviceConnection> on1 = CompletableFuture.supplyAsync(() -> connect(1, d, from1));
                all.add(on0.get(20, TimeUnit.SECONDS));
                all.add(on1.get(20, TimeUnit.SECONDS));
                await().atMost(BOUND).alias("round " + round + ": one session left").until(() ->
                        holders(d.id()).size() == 1 && all.stream().filter(DeviceConnection::open).count() == 1);
                int holder = holders(d.id()).get(0);
                await().atMost(BOUND).until(() -> leaseEpoch(holder, d.id()).isPresent());
                assertThat(lease(d.id())).as("round %d: the lease is the surviving session's", round)
                        .containsExactly(TestCluster.nodeId(holder), leaseEpoch(holder, d.id()).getAsLong());
            }
        } finally {
            all.forEach(DeviceConnection::close);
        }
    }
}
