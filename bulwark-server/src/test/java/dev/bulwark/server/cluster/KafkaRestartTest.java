package dev.bulwark.server.cluster;

import static org.assertj.core.api.Assertions.assertThat;
import static org.awaitility.Awaitility.await;

import dev.bulwark.server.testkit.KafkaBroker;
import dev.bulwark.server.testkit.NodeProcess;
import dev.bulwark.server.testkit.TestCluster;
import dev.bulwark.server.testkit.TestServer;
import java.net.URI;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.List;
import java.util.Map;
import java.util.concurrent.TimeUnit;
import org.apache.kafka.clients.producer.KafkaProducer;
import org.apache.kafka.clients.producer.ProducerConfig;
import org.apache.kafka.clients.producer.ProducerRecord;
import org.apache.kafka.common.serialization.ByteArraySerializer;
import org.apache.kafka.common.serialization.StringSerializer;
import org.junit.jupiter.api.Test;

/**
 * The Kafka broker stops and starts again during ingest. Two nodes on a broker of this test's own, SDK devices
 * streaming QoS 1 telemetry to both. What a device sends is committed to PostgreSQL before its PUBACK: the
 * broker is not on that path, so acknowledgements go on while it is down, as the README's "Scaled out" section
 * says (what crosses nodes waits in the Kafka clients meanwhile). Nothing acknowledged is lost, and each node's bus consumer comes back by itself:
 * a record published on the cluster's control topic after the restart is read by both nodes.
 */
class KafkaRestartTest {
    private static final int DEVICES = 4;

    @Test
    void ingest_goes_on_while_the_broker_restarts_and_the_nodes_read_the_bus_again_by_themselves() throws Exception {
        try (KafkaBroker broker = KafkaBroker.start();
             TestCluster cluster = TestCluster.start(2, broker, b -> b.deviceMessagesPerSecond(100_000))) {
            TestServer first = cluster.node(0);
            String token = StreamingFleet.tenant(first.api(), cluster.adminToken(), "acme");
            try (StreamingFleet fleet = new StreamingFleet(first::api, token, cluster.dataDir().resolve("pki/ca.pem"))) {
                URI est = URI.create("https://localhost:" + first.node().deviceHttpsPort());
                for (int i = 0; i < DEVICES; i++) {
                    // half on each node, each device listing the other node second
                    TestServer home = cluster.node(i % 2);
                    TestServer other = cluster.node((i + 1) % 2);
                    fleet.add("meter-" + i, est, List.of(URI.create("ssl://localhost:" + home.node().mqttPort()),
                            URI.create("ssl://localhost:" + other.node().mqttPort())));
                }
                fleet.stream(Duration.ofMillis(5));
                await().atMost(Duration.ofSeconds(20)).until(() -> fleet.acknowledged() >= DEVICES * 200L);

                long stopped = System.nanoTime();
                broker.stop();
                long beforeOutage = fleet.acknowledged();
                // the broker is down: devices are still acknowledged
                await().atMost(Duration.ofSeconds(10)).until(() -> fleet.acknowledged() > beforeOutage + DEVICES * 200L);
                long ackedWhileDown = fleet.acknowledged() - beforeOutage;
                broker.restart();
                long downMs = (System.nanoTime() - stopped) / 1_000_000;

                // the nodes read the bus again without being restarted
                long back = System.nanoTime();
                double[] before = {received(cluster, 0), received(cluster, 1)};
                try (KafkaProducer<String, byte[]> p = new KafkaProducer<>(Map.of(ProducerConfig.BOOTSTRAP_SERVERS_CONFIG, broker.bootstrap(),
                        ProducerConfig.KEY_SERIALIZER_CLASS_CONFIG, StringSerializer.class.getName(),
                        ProducerConfig.VALUE_SERIALIZER_CLASS_CONFIG, ByteArraySerializer.class.getName()))) {
                    p.send(new ProducerRecord<>(cluster.topicPrefix() + ".control", "probe",
                            ("{\"type\":\"probe\",\"node\":\"test\",\"time\":" + System.currentTimeMillis() + ",\"body\":{}}")
                                    .getBytes(StandardCharsets.UTF_8))).get(30, TimeUnit.SECONDS);
                }
                await().atMost(Duration.ofSeconds(30)).until(() -> received(cluster, 0) > before[0] && received(cluster, 1) > before[1]);
                long busBackMs = (System.nanoTime() - back) / 1_000_000;

                long resumed = fleet.acknowledged();
                await().atMost(Duration.ofSeconds(20)).until(() -> fleet.acknowledged() > resumed + DEVICES * 100L);
                fleet.stopStreaming();
                fleet.awaitAllAcknowledged(Duration.ofSeconds(30));
                Map<String, Integer> duplicates = fleet.assertEveryMessageStored(
                        StreamingFleet.storedInDatabase(cluster.databaseUrl(), cluster.dataDir()));
                String measured = String.format("broker down %d ms, %d messages acknowledged meanwhile; bus read again %d ms after the "
                        + "broker was back; %d messages", downMs, ackedWhileDown, busBackMs, fleet.devices().keySet().stream().mapToInt(fleet::sent).sum());
                assertThat(duplicates.values()).as("no connection was lost: nothing was sent twice (%s): %s", measured, duplicates)
                        .allMatch(n -> n == 0);
            }
        }
    }

    private static double received(TestCluster cluster, int i) {
        TestServer n = cluster.node(i);
        return NodeProcess.sample(n.api().get("/metrics", cluster.adminToken()).body(), "bulwark_cluster_records_received_total");
    }
}
