package dev.bulwark.server.cluster;

import static org.assertj.core.api.Assertions.assertThat;
import static org.awaitility.Awaitility.await;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import dev.bulwark.server.testkit.KafkaBroker;
import dev.bulwark.server.testkit.MqttKit;
import dev.bulwark.server.testkit.TestCluster;
import dev.bulwark.server.testkit.Tls;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Base64;
import java.util.HashSet;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.UUID;
import java.util.stream.Collectors;
import org.apache.kafka.clients.admin.Admin;
import org.apache.kafka.clients.admin.AdminClientConfig;
import org.apache.kafka.clients.consumer.ConsumerConfig;
import org.apache.kafka.clients.consumer.ConsumerRecord;
import org.apache.kafka.clients.consumer.KafkaConsumer;
import org.apache.kafka.common.config.ConfigResource;
import org.apache.kafka.common.serialization.ByteArrayDeserializer;
import org.apache.kafka.common.serialization.StringDeserializer;
import org.eclipse.paho.client.mqttv3.MqttClient;
import org.eclipse.paho.client.mqttv3.MqttConnectOptions;
import org.eclipse.paho.client.mqttv3.persist.MemoryPersistence;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.MethodOrderer;
import org.junit.jupiter.api.Order;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.TestInstance;
import org.junit.jupiter.api.TestMethodOrder;

/**
 * Data out: every message a node acknowledged reaches its tenant's topic {@code <prefix>.data.<tenant>}, in order per
 * device, in the documented record format, and only there; a node stopped before Kafka confirmed what it had
 * acknowledged publishes it when it is back. Three real nodes, real PostgreSQL, a real Kafka broker of the test's
 * own (it is stopped and restarted), real MQTT devices (Paho over mutual TLS), a plain {@link KafkaConsumer} in a group.
 */
@TestInstance(TestInstance.Lifecycle.PER_CLASS)
@TestMethodOrder(MethodOrderer.OrderAnnotation.class)
class NorthboundTest {
    private static final ObjectMapper JSON = new ObjectMapper();
    KafkaBroker broker;
    TestCluster cluster;

    @BeforeAll
    void start() {
        broker = KafkaBroker.start();
        cluster = TestCluster.start(3, broker, b -> { });
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

    /** A device of {@code kit}'s tenant connected to node {@code node} over mutual TLS (QoS 1 publishes wait for PUBACK). */
    private MqttClient connect(MqttKit kit, MqttKit.Device d, int node) throws Exception {
        MqttClient c = new MqttClient("ssl://localhost:" + cluster.node(node).node().mqttPort(), d.id(), new MemoryPersistence());
        MqttConnectOptions o = new MqttConnectOptions();
        o.setSocketFactory(Tls.clientFactory(kit.ca(), d.cert(), d.key()));
        o.setCleanSession(true);
        o.setAutomaticReconnect(false);
        c.setTimeToWait(15_000);
        c.connect(o);
        return c;
    }

    /** Publishes {@code n} QoS 1 telemetry messages {"n":k}; returns once the last one is acknowledged. */
    private static void stream(MqttClient c, String device, int from, int n) throws Exception {
        for (int k = from; k < from + n; k++) {
            c.publish("devices/" + device + "/telemetry", ("{\"n\":" + k + "}").getBytes(StandardCharsets.UTF_8), 1, false);
        }
    }

    /** A consumer of the tenant's topic, in a group of its own, from the beginning. */
    private KafkaConsumer<String, byte[]> consumer(String tenant) {
        KafkaConsumer<String, byte[]> c = new KafkaConsumer<>(Map.of(ConsumerConfig.BOOTSTRAP_SERVERS_CONFIG, broker.bootstrap(),
                ConsumerConfig.GROUP_ID_CONFIG, tenant + "-app-" + UUID.randomUUID(), ConsumerConfig.AUTO_OFFSET_RESET_CONFIG, "earliest",
                ConsumerConfig.METADATA_MAX_AGE_CONFIG, 500, ConsumerConfig.ENABLE_AUTO_COMMIT_CONFIG, false),
                new StringDeserializer(), new ByteArrayDeserializer());
        c.subscribe(List.of(topic(tenant)));
        return c;
    }

    private String topic(String tenant) {
        return cluster.topicPrefix() + ".data." + tenant;
    }

    /** Polls {@code c} into {@code into} until {@code done} holds (at most {@code seconds}). */
    private static void drain(KafkaConsumer<String, byte[]> c, List<ConsumerRecord<String, byte[]>> into,
                              java.util.function.Predicate<List<ConsumerRecord<String, byte[]>>> done, int seconds) {
        await().atMost(Duration.ofSeconds(seconds)).pollInterval(Duration.ofMillis(10)).until(() -> {
            c.poll(Duration.ofMillis(200)).forEach(into::add);
            return done.test(into);
        });
    }

    private static JsonNode value(ConsumerRecord<String, byte[]> r) {
        try {
            return JSON.readTree(r.value());
        } catch (java.io.IOException e) {
            throw new IllegalStateException(e);
        }
    }

    /** The {"n":k} numbers of {@code device}'s records, duplicates (same sequence) dropped, in stream order. */
    private static List<Integer> numbers(List<ConsumerRecord<String, byte[]>> records, String device) {
        Set<Long> seen = new HashSet<>();
        List<Integer> out = new ArrayList<>();
        for (ConsumerRecord<String, byte[]> r : records) {
            JsonNode v = value(r);
            if (v.get("device").asText().equals(device) && v.get("kind").asText().equals("telemetry") && seen.add(v.get("sequence").asLong())) {
                out.add(payload(v).get("n").asInt());
            }
        }
        return out;
    }

    private static JsonNode payload(JsonNode v) {
        try {
            return JSON.readTree(Base64.getDecoder().decode(v.get("payload").asText()));
        } catch (java.io.IOException e) {
            throw new IllegalStateException(e);
        }
    }

    private static List<Integer> range(int from, int n) {
        return java.util.stream.IntStream.range(from, from + n).boxed().toList();
    }

    @Test
    @Order(1)
    void every_acknowledged_message_reaches_its_tenants_topic_in_order_per_device_with_the_documented_fields() throws Exception {
        String acmeOps = cluster.node(0).tenantWithOperator("acme", "ops", "tenant-admin");
        String globexOps = cluster.node(0).tenantWithOperator("globex", "ops", "tenant-admin");
        MqttKit acme = new MqttKit(cluster.node(0), acmeOps);
        MqttKit globex = new MqttKit(cluster.node(0), globexOps);
        int perDevice = 40;
        Map<String, MqttClient> devices = new LinkedHashMap<>();
        long before = System.currentTimeMillis();
        for (int i = 0; i < 3; i++) {
            devices.put("meter-" + i, connect(acme, acme.device("meter-" + i), i)); // one device on each node
        }
        MqttClient rival = connect(globex, globex.device("rival-1"), 1);
        List<Thread> streams = new ArrayList<>();
        List<Throwable> errors = java.util.Collections.synchronizedList(new ArrayList<>());
        devices.forEach((id, c) -> {
            Thread t = new Thread(() -> {
                try {
                    stream(c, id, 0, perDevice);
                } catch (Exception e) {
                    errors.add(e);
                }
            });
            t.start();
            streams.add(t);
        });
        stream(rival, "rival-1", 0, 10);
        devices.get("meter-0").publish("devices/meter-0/events", "{\"alarm\":\"door\"}".getBytes(StandardCharsets.UTF_8), 1, false);
        for (Thread t : streams) {
            t.join();
        }
        assertThat(errors).isEmpty();
        long after = System.currentTimeMillis();

        List<ConsumerRecord<String, byte[]>> got = new ArrayList<>();
        try (KafkaConsumer<String, byte[]> c = consumer("acme")) {
            drain(c, got, rs -> devices.keySet().stream().allMatch(d -> numbers(rs, d).size() >= perDevice)
                    && rs.stream().anyMatch(r -> value(r).get("kind").asText().equals("events")), 30);
        }
        for (String d : devices.keySet()) {
            assertThat(numbers(got, d)).as("every acknowledged message of %s, in order", d).isEqualTo(range(0, perDevice));
        }
        Map<String, String> periods = cluster.node(0).sql(h -> h.createQuery("SELECT device_id, id FROM ownership_periods WHERE tenant_id = 'acme'")
                .map((rs, ctx) -> Map.entry(rs.getString(1), rs.getString(2))).list()).stream()
                .collect(Collectors.toMap(Map.Entry::getKey, Map.Entry::getValue));
        Map<String, Set<Integer>> partitions = new LinkedHashMap<>();
        for (ConsumerRecord<String, byte[]> r : got) {
            JsonNode v = value(r);
            assertThat(v.get("tenant").asText()).isEqualTo("acme"); // another tenant's data never appears here
            assertThat(r.key()).isEqualTo(v.get("device").asText());
            assertThat(v.get("period").asText()).isEqualTo(periods.get(v.get("device").asText()));
            assertThat(v.get("time").asLong()).isBetween(before, after);
            assertThat(v.get("kind").asText()).isIn("telemetry", "events");
            Set<String> fields = new HashSet<>();
            v.fieldNames().forEachRemaining(fields::add);
            assertThat(fields).containsExactlyInAnyOrder("tenant", "device", "kind", "time", "sequence", "period", "payload");
            partitions.computeIfAbsent(r.key(), k -> new HashSet<>()).add(r.partition());
        }
        assertThat(partitions.values()).allSatisfy(p -> assertThat(p).as("one device, one partition").hasSize(1));
        ConsumerRecord<String, byte[]> event = got.stream().filter(r -> value(r).get("kind").asText().equals("events")).findFirst().orElseThrow();
        assertThat(new String(Base64.getDecoder().decode(value(event).get("payload").asText()), StandardCharsets.UTF_8))
                .isEqualTo("{\"alarm\":\"door\"}");
        // the sequence is the stored message's id, as the REST API shows it (on any node)
        Set<Long> restIds = new HashSet<>();
        cluster.node(2).api().get("/api/v1/devices/meter-1/telemetry?limit=1000", acmeOps).json().get("items")
                .forEach(i -> restIds.add(i.get("id").asLong()));
        Set<Long> sequences = got.stream().map(NorthboundTest::value).filter(v -> v.get("device").asText().equals("meter-1"))
                .map(v -> v.get("sequence").asLong()).collect(Collectors.toSet());
        assertThat(sequences).isEqualTo(restIds);

        // the other tenant's data is on its own topic only
        List<ConsumerRecord<String, byte[]>> theirs = new ArrayList<>();
        try (KafkaConsumer<String, byte[]> c = consumer("globex")) {
            drain(c, theirs, rs -> numbers(rs, "rival-1").size() >= 10, 30);
        }
        assertThat(theirs).allSatisfy(r -> assertThat(value(r).get("tenant").asText()).isEqualTo("globex"));
        assertThat(numbers(theirs, "rival-1")).isEqualTo(range(0, 10));

        // the topic as documented: three partitions, the configured retention
        try (Admin admin = Admin.create(Map.of(AdminClientConfig.BOOTSTRAP_SERVERS_CONFIG, broker.bootstrap()))) {
            assertThat(admin.describeTopics(List.of(topic("acme"))).allTopicNames().get().get(topic("acme")).partitions()).hasSize(3);
            ConfigResource res = new ConfigResource(ConfigResource.Type.TOPIC, topic("acme"));
            var config = admin.describeConfigs(List.of(res)).all().get().get(res);
            assertThat(config.get("retention.ms").value()).isEqualTo(String.valueOf(Duration.ofDays(7).toMillis()));
            assertThat(config.get("segment.ms").value()).isEqualTo(String.valueOf(Duration.ofHours(1).toMillis()));
        }
        for (MqttClient c : devices.values()) {
            c.disconnect();
        }
        rival.disconnect();
        // everything confirmed leaves the outbox
        await().atMost(Duration.ofSeconds(10)).until(() -> cluster.node(0).count("SELECT COUNT(*) FROM northbound_outbox") == 0);
    }

    @Test
    @Order(2)
    void the_console_consumer_and_the_java_consumer_of_the_readme_read_the_stream_as_printed() throws Exception {
        // the data of the first test: meter-0..2, 40 telemetry messages each, and one event of meter-0
        int total = 121;
        java.nio.file.Path dir = java.nio.file.Files.createTempDirectory("bulwark-consumer-");
        java.nio.file.Path props = dir.resolve("acme-app.properties");
        java.nio.file.Files.writeString(props, "# the test broker speaks plaintext\n");
        // the console consumer: the Kafka distribution's script runs this class; bounded here to what was sent
        String console = dev.bulwark.server.testkit.Readme.block("sh", "kafka-console-consumer.sh").strip()
                .replace("kafka-console-consumer.sh", "java -cp \"$CP\" org.apache.kafka.tools.consumer.ConsoleConsumer")
                .replace("kafka-1.example.com:9093", broker.bootstrap()).replace("bulwark.data.acme", topic("acme"))
                + " --max-messages " + total + " --timeout-ms 30000";
        ProcessBuilder pb = new ProcessBuilder("bash", "-euo", "pipefail", "-c", console).directory(dir.toFile())
                .redirectError(dir.resolve("console.err").toFile());
        pb.environment().put("CP", System.getProperty("java.class.path"));
        Process p = pb.start();
        p.getOutputStream().close();
        String out = new String(p.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
        assertThat(p.waitFor()).as(java.nio.file.Files.readString(dir.resolve("console.err"))).isZero();
        List<ConsumerRecord<String, byte[]>> lines = new ArrayList<>();
        for (String line : out.split("\n")) {
            if (line.contains("\t")) {
                String[] kv = line.split("\t", 2);
                lines.add(new ConsumerRecord<>(topic("acme"), 0, 0, kv[0], kv[1].getBytes(StandardCharsets.UTF_8)));
            }
        }
        assertThat(lines).hasSize(total);
        assertThat(lines).allSatisfy(r -> assertThat(r.key()).isEqualTo(value(r).get("device").asText()));
        for (int i = 0; i < 3; i++) {
            assertThat(numbers(lines, "meter-" + i)).isEqualTo(range(0, 40));
        }

        // the Java snippet, compiled as printed inside a class that supplies running and handle(...)
        String body = dev.bulwark.server.testkit.Readme.block("java", "KafkaConsumer").replace("kafka-1.example.com:9093", broker.bootstrap())
                .replace("bulwark.data.acme", topic("acme")).replace("\"acme-app\"", "\"acme-app-java\"")
                .replace("acme-app.properties", props.toString());
        String source = "package snippet;\n"
                + "import java.nio.file.*; import java.time.Duration; import java.util.*; import org.apache.kafka.clients.consumer.*;\n"
                + "import org.apache.kafka.common.serialization.StringDeserializer; import com.fasterxml.jackson.databind.*;\n"
                + "public class Reader implements java.util.concurrent.Callable<Void> {\n"
                + "    public static volatile boolean running = true;\n"
                + "    public static final List<String[]> handled = Collections.synchronizedList(new ArrayList<>());\n"
                + "    static void handle(String device, String kind, byte[] payload) {\n"
                + "        handled.add(new String[] {device, kind, new String(payload, java.nio.charset.StandardCharsets.UTF_8)});\n"
                + "    }\n"
                + "    public Void call() throws Exception {\n" + body + "        return null;\n    }\n}\n";
        java.nio.file.Path src = java.nio.file.Files.createDirectories(dir.resolve("src/snippet")).resolve("Reader.java");
        java.nio.file.Files.writeString(src, source);
        java.nio.file.Path classes = java.nio.file.Files.createDirectories(dir.resolve("classes"));
        java.io.ByteArrayOutputStream diagnostics = new java.io.ByteArrayOutputStream();
        int rc = javax.tools.ToolProvider.getSystemJavaCompiler().run(null, diagnostics, diagnostics, "-proc:none", "-classpath",
                System.getProperty("java.class.path"), "-d", classes.toString(), src.toString());
        assertThat(rc).as(diagnostics.toString()).isZero();
        try (java.net.URLClassLoader loader = new java.net.URLClassLoader(new java.net.URL[] {classes.toUri().toURL()}, getClass().getClassLoader())) {
            Class<?> reader = loader.loadClass("snippet.Reader");
            @SuppressWarnings("unchecked")
            List<String[]> handled = (List<String[]>) reader.getField("handled").get(null);
            java.util.concurrent.FutureTask<Void> run = new java.util.concurrent.FutureTask<>(
                    (java.util.concurrent.Callable<Void>) reader.getDeclaredConstructor().newInstance());
            Thread t = new Thread(run, "readme-consumer");
            t.start();
            await().atMost(Duration.ofSeconds(30)).until(() -> handled.size() >= total || run.isDone());
            reader.getField("running").set(null, false);
            run.get(10, java.util.concurrent.TimeUnit.SECONDS);
            assertThat(handled).hasSize(total);
            for (int i = 0; i < 3; i++) {
                String device = "meter-" + i;
                assertThat(handled.stream().filter(h -> h[0].equals(device) && h[1].equals("telemetry")).map(h -> h[2]).toList())
                        .isEqualTo(range(0, 40).stream().map(k -> "{\"n\":" + k + "}").toList());
            }
        }
        try (var files = java.nio.file.Files.walk(dir)) {
            files.sorted(java.util.Comparator.reverseOrder()).forEach(f -> f.toFile().delete());
        }
    }

    @Test
    @Order(3)
    void a_message_acknowledged_by_one_node_is_readable_through_another_nodes_api_at_once() throws Exception {
        String ops = cluster.node(0).tenantWithOperator("hooli", "ops", "tenant-admin");
        MqttKit kit = new MqttKit(cluster.node(0), ops);
        MqttClient c = connect(kit, kit.device("pump-1"), 0);
        try {
            long worstMs = 0;
            for (int k = 0; k < 20; k++) {
                stream(c, "pump-1", k, 1); // returns on the PUBACK from node 0
                long t0 = System.nanoTime();
                JsonNode items = cluster.node(1 + k % 2).api().get("/api/v1/devices/pump-1/telemetry?limit=1000", ops).json().get("items");
                worstMs = Math.max(worstMs, (System.nanoTime() - t0) / 1_000_000);
                assertThat(items).as("read on node %d right after the PUBACK of message %d", 1 + k % 2, k).hasSize(k + 1);
                assertThat(new String(Base64.getDecoder().decode(items.get(k).get("payloadBase64").asText()), StandardCharsets.UTF_8))
                        .isEqualTo("{\"n\":" + k + "}");
            }
            assertThat(worstMs).as("slowest read, ms").isLessThan(5000);
        } finally {
            c.disconnect();
        }
    }

    @Test
    @Order(4)
    void messages_acknowledged_while_kafka_is_down_reach_the_stream_also_from_a_node_stopped_before_publishing_them() throws Exception {
        String ops = cluster.node(0).tenantWithOperator("initech", "ops", "tenant-admin");
        MqttKit kit = new MqttKit(cluster.node(0), ops);
        MqttKit.Device kept = kit.device("kept-1");
        MqttKit.Device owned = kit.device("owned-1");
        MqttKit.Device other = kit.device("other-1");
        String owner = cluster.node(0).api().post("/api/v1/owners", ops, Map.of("name", "Peter Gibbons")).json().get("id").asText();
        assertThat(cluster.node(0).api().post("/api/v1/devices/owned-1/transfer", ops, Map.of("owner", owner)).status()).isEqualTo(200);
        MqttClient k0 = connect(kit, kept, 0);
        MqttClient o0 = connect(kit, owned, 0);
        MqttClient x1 = connect(kit, other, 1);
        stream(k0, "kept-1", 0, 5); // the topic exists, and nodes 0 and 1 have published to it
        stream(o0, "owned-1", 0, 5);
        stream(x1, "other-1", 0, 5);
        List<ConsumerRecord<String, byte[]>> got = new ArrayList<>();
        try (KafkaConsumer<String, byte[]> c = consumer("initech")) {
            drain(c, got, rs -> numbers(rs, "kept-1").size() == 5 && numbers(rs, "owned-1").size() == 5
                    && numbers(rs, "other-1").size() == 5, 30);
        }

        broker.stop();
        // acknowledged (committed in PostgreSQL), not in Kafka: node 0 is stopped before it can publish them
        stream(k0, "kept-1", 5, 20);
        stream(o0, "owned-1", 5, 20);
        stream(x1, "other-1", 5, 20); // node 1 keeps running through the outage
        assertThat(cluster.node(0).count("SELECT COUNT(*) FROM northbound_outbox WHERE node_id = 'node-0'")).isPositive();
        k0.disconnect();
        o0.disconnect();
        cluster.stop(0);
        assertThat(cluster.node(1).count("SELECT COUNT(*) FROM northbound_outbox WHERE node_id = 'node-0'")).isPositive();

        broker.restart();
        // while node 0 is down, the owner of owned-1 deletes their data: what of it was acknowledged and not published is
        // not published when node 0 is back
        assertThat(cluster.node(2).api().delete("/api/v1/owners/" + owner, ops).status()).isBetween(200, 204);
        cluster.restart(0);
        await().atMost(Duration.ofSeconds(30)).until(() -> cluster.node(1).count("SELECT COUNT(*) FROM northbound_outbox") == 0);
        got.clear();
        try (KafkaConsumer<String, byte[]> c = consumer("initech")) {
            drain(c, got, rs -> numbers(rs, "kept-1").size() >= 25 && numbers(rs, "other-1").size() >= 25, 30);
            // the outbox is empty, so Kafka confirmed every record there is: read to the end of each partition
            Map<org.apache.kafka.common.TopicPartition, Long> end = c.endOffsets(c.assignment());
            drain(c, got, rs -> end.entrySet().stream().allMatch(e -> c.position(e.getKey()) >= e.getValue()), 10);
        }
        assertThat(numbers(got, "kept-1")).as("nothing acknowledged is missing, in order").isEqualTo(range(0, 25));
        assertThat(numbers(got, "other-1")).isEqualTo(range(0, 25));
        assertThat(numbers(got, "owned-1")).as("only what was published before the owner's deletion").isEqualTo(range(0, 5));
        x1.disconnect();
    }
}
