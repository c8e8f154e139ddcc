package dev.bulwark.server.cluster;

import static org.assertj.core.api.Assertions.assertThat;
import static org.awaitility.Awaitility.await;

import dev.bulwark.device.BulwarkDevice;
import dev.bulwark.server.testkit.Backend;
import dev.bulwark.server.testkit.HaProxy;
import dev.bulwark.server.testkit.KafkaBroker;
import dev.bulwark.server.testkit.NodeProcess;
import java.net.URI;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Test;

/**
 * Kill -9 one of three nodes during a QoS 1 stream. Three nodes, each its own JVM (SIGKILL: no shutdown hook,
 * no flush, no goodbye to Kafka or to the devices), on one PostgreSQL database, one Kafka broker and one data
 * directory, behind HAProxy in TCP mode with health checks on the MQTT port. SDK devices stream QoS 1 telemetry
 * through HAProxy; one more device lists the three nodes itself (the SDK's several endpoints). The node holding
 * most devices is killed: its devices reconnect (HAProxy dispatches them to the other nodes, the device with
 * the node list moves on to the next one) and every message any device was acknowledged, before or after the
 * kill, is stored in PostgreSQL (read directly: the telemetry log and the segments, payloads opened with the data
 * keys). The killed node is then started again (same node id, same ports) and HAProxy takes it back in while the
 * devices keep streaming.
 *
 * <p>Duplicates can occur, and only this way: a message the killed node had committed whose PUBACK had not
 * reached the device when the node died stays in the device's buffer and is sent again to the next node, which
 * stores it a second time. So at most the device's in-flight window ({@value StreamingFleet#WINDOW} messages)
 * per device per failure. The stored copies have the same payload but different server-side ids (the
 * {@code id} each item of {@code GET /devices/{id}/telemetry} carries, the northbound record's sequence)
 * and different {@code connection}s: a consumer recognizes a duplicate by an id of the device's own in the
 * payload (here the sequence number {@code seq}), the way MQTT at-least-once delivery is always deduplicated.
 */
class NodeKillFailoverTest {
    private static final int THROUGH_BALANCER = 6;

    @Test
    void killing_the_busiest_of_three_nodes_moves_its_devices_to_the_others_and_every_acknowledged_message_is_stored() throws Exception {
        String db = Backend.POSTGRESQL.freshDatabase();
        Path data = Files.createTempDirectory("bulwark-kill-cluster-");
        String prefix = "k" + Long.toHexString(Double.doubleToLongBits(Math.random())).substring(0, 10);
        String kafka = KafkaBroker.shared().bootstrap();
        List<NodeProcess> nodes = new ArrayList<>();
        HaProxy balancer = null;
        StreamingFleet fleet = null;
        try {
            List<NodeProcess.Settings> settings = new ArrayList<>();
            for (int i = 0; i < 3; i++) {
                settings.add(NodeProcess.Settings.cluster(data, db, kafka, prefix, "node-" + i));
            }
            nodes.addAll(NodeProcess.startAll(settings));
            Map<String, Integer> backends = new LinkedHashMap<>();
            nodes.forEach(n -> backends.put(n.name(), n.mqttPort()));
            balancer = HaProxy.start(backends);

            NodeProcess first = nodes.get(0);
            String token = StreamingFleet.tenant(first.api(), first.adminToken(), "acme");
            NodeProcess[] reader = {first}; // a node that never dies serves the reads, once the victim is known
            fleet = new StreamingFleet(() -> reader[0].api(), token, first.caPem());
            URI est = URI.create("https://localhost:" + first.deviceHttpsPort());
            URI viaBalancer = URI.create("ssl://localhost:" + balancer.port());
            fleet.addAll(java.util.stream.IntStream.range(0, THROUGH_BALANCER).mapToObj(i -> "meter-" + i).toList(), est, List.of(viaBalancer));
            // the busiest node (round robin spreads the devices; ties go to the first), then one device that lists
            // the nodes itself, the busiest first: it is on the node that dies too
            await().atMost(Duration.ofSeconds(10)).until(() -> connections(nodes) == THROUGH_BALANCER);
            NodeProcess victim = nodes.stream().max(Comparator.comparingDouble(n -> n.metric("bulwark_connections"))).orElseThrow();
            List<URI> direct = new ArrayList<>();
            direct.add(URI.create("ssl://localhost:" + victim.mqttPort()));
            nodes.stream().filter(n -> n != victim).forEach(n -> direct.add(URI.create("ssl://localhost:" + n.mqttPort())));
            BulwarkDevice listing = fleet.add("meter-direct", est, direct);
            await().atMost(Duration.ofSeconds(10)).until(() -> connections(nodes) == THROUGH_BALANCER + 1);
            int onVictim = (int) victim.metric("bulwark_connections");
            reader[0] = nodes.stream().filter(n -> n != victim).findFirst().orElseThrow();

            fleet.stream(Duration.ofMillis(5)); // ~200 messages per second per device
            StreamingFleet f = fleet;
            await().atMost(Duration.ofSeconds(20)).until(() -> f.devices().values().stream().allMatch(d -> d.stats().acknowledged() >= 200));

            Map<String, Long> ackedAtKill = new LinkedHashMap<>();
            Map<String, Long> connectsAtKill = new LinkedHashMap<>();
            fleet.devices().forEach((id, d) -> {
                ackedAtKill.put(id, d.stats().acknowledged());
                connectsAtKill.put(id, d.stats().connects());
            });
            long killed = System.nanoTime();
            victim.kill();

            // every device streams again, acknowledged by the survivors: the victim's devices reconnected
            await().atMost(Duration.ofSeconds(20)).pollInterval(Duration.ofMillis(20)).until(() -> f.devices().entrySet().stream()
                    .allMatch(e -> e.getValue().stats().connected() && e.getValue().stats().acknowledged() > ackedAtKill.get(e.getKey()) + 50));
            long recoveredMs = (System.nanoTime() - killed) / 1_000_000;
            long reconnected = fleet.devices().entrySet().stream().filter(e -> e.getValue().stats().connects() > connectsAtKill.get(e.getKey())).count();
            assertThat(reconnected).as("devices that reconnected after the kill (recovered in %d ms)", recoveredMs).isGreaterThanOrEqualTo(onVictim);
            assertThat(listing.endpoint()).as("the device listing the nodes moved on to another").isNotEqualTo(direct.get(0));
            HaProxy lb = balancer;
            await().atMost(Duration.ofSeconds(5)).until(() -> lb.status().get(victim.name()).startsWith("DOWN"));
            List<NodeProcess> survivors = nodes.stream().filter(NodeProcess::isAlive).toList();
            await().atMost(Duration.ofSeconds(10)).until(() -> connections(survivors) == THROUGH_BALANCER + 1);

            long afterRecovery = fleet.acknowledged();
            await().atMost(Duration.ofSeconds(20)).until(() -> f.acknowledged() > afterRecovery + 300);

            // the killed node comes back under its node id and HAProxy takes it in again; the stream goes on
            long restarting = System.nanoTime();
            victim.restart();
            await().atMost(Duration.ofSeconds(10)).until(() -> lb.status().get(victim.name()).startsWith("UP"));
            long rejoinedMs = (System.nanoTime() - restarting) / 1_000_000;
            long afterRejoin = fleet.acknowledged();
            await().atMost(Duration.ofSeconds(20)).until(() -> f.acknowledged() > afterRejoin + 300);
            fleet.stopStreaming();
            fleet.awaitAllAcknowledged(Duration.ofSeconds(30));

            Map<String, Integer> duplicates = fleet.assertEveryMessageStored(StreamingFleet.storedInDatabase(db, data));
            String measured = String.format("%d of %d devices on %s; every device acknowledged again %d ms after the kill; rejoined in %d ms; "
                    + "%d messages", onVictim, fleet.devices().size(), victim.name(), recoveredMs, rejoinedMs,
                    fleet.devices().keySet().stream().mapToInt(fleet::sent).sum());
            duplicates.forEach((id, n) -> assertThat(n).as("%s: stored twice (in flight at the kill: at most the window; %s)", id, measured)
                    .isBetween(0, StreamingFleet.WINDOW));
        } finally {
            if (fleet != null) {
                fleet.close();
            }
            if (balancer != null) {
                balancer.close();
            }
            nodes.forEach(NodeProcess::close);
            Backend.drop(db);
            deleteTree(data);
        }
    }

    private static int connections(List<NodeProcess> nodes) {
        return (int) nodes.stream().mapToDouble(n -> n.metric("bulwark_connections")).sum();
    }

    static void deleteTree(Path dir) {
        try (var files = Files.walk(dir)) {
            files.sorted(Comparator.reverseOrder()).forEach(p -> p.toFile().delete());
        } catch (java.io.IOException e) {
            // best effort
        }
    }
}
