package dev.bulwark.server.cluster;

import static org.assertj.core.api.Assertions.assertThat;
import static org.awaitility.Awaitility.await;

import ch.qos.logback.classic.Level;
import ch.qos.logback.classic.spi.ILoggingEvent;
import ch.qos.logback.core.read.ListAppender;
import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ObjectNode;
import dev.bulwark.device.Backoff;
import dev.bulwark.device.BulwarkDevice;
import dev.bulwark.protocol.DeviceId;
import dev.bulwark.protocol.TenantId;
import dev.bulwark.server.cli.ApiClient;
import dev.bulwark.server.command.Command;
import dev.bulwark.server.command.CommandState;
import dev.bulwark.server.command.CommandStore;
import dev.bulwark.server.testkit.MqttKit;
import dev.bulwark.server.testkit.TestCluster;
import dev.bulwark.server.testkit.TestServer;
import dev.bulwark.server.testkit.Tls;
import java.net.URI;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.Properties;
import java.util.concurrent.BlockingQueue;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.concurrent.LinkedBlockingQueue;
import java.util.concurrent.TimeUnit;
import org.apache.kafka.clients.producer.KafkaProducer;
import org.apache.kafka.clients.producer.ProducerRecord;
import org.apache.kafka.common.serialization.ByteArraySerializer;
import org.apache.kafka.common.serialization.StringSerializer;
import org.eclipse.paho.client.mqttv3.MqttClient;
import org.eclipse.paho.client.mqttv3.MqttConnectOptions;
import org.eclipse.paho.client.mqttv3.persist.MemoryPersistence;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.slf4j.LoggerFactory;

/**
 * Commands and desired configuration created through any node of three reach the device on whichever node holds
 * its session, routed by the device's lease and fenced by its epoch; a command nobody can deliver ends expired.
 * Real nodes, real Kafka, real PostgreSQL, real devices (the SDK, and Paho clients where a test must see every
 * copy a device receives).
 */
class ClusterCommandRoutingTest {
    static final ObjectMapper JSON = new ObjectMapper();
    static final TenantId T = TenantId.of("acme");
    static final Duration BOUND = Duration.ofSeconds(5); // "within a second", on a loaded 2-core machine

    static TestCluster cluster;
    static String token;
    static MqttKit kit;
    static Path home;
    final List<AutoCloseable> opened = new ArrayList<>();

    @BeforeAll
    static void startCluster() throws Exception {
        cluster = TestCluster.start(3);
        token = cluster.node(0).tenantWithOperator("acme", "ops", "tenant-admin");
        kit = new MqttKit(cluster.node(0), token);
        home = Files.createTempDirectory("bulwark-cluster-devices-");
        ApiClient api = cluster.node(0).api();
        assertThat(api.post("/api/v1/models", token, Map.of("id", "thermo")).status()).isEqualTo(201);
        assertThat(api.send("PUT", "/api/v1/models/thermo/config-schema", token, "application/json",
                "{\"type\":\"object\",\"properties\":{\"interval\":{\"type\":\"integer\"}}}".getBytes()).status()).isEqualTo(200);
        assertThat(api.send("PUT", "/api/v1/models/thermo/commands/reboot", token, "application/json",
                "{\"paramsSchema\":{\"type\":\"object\",\"properties\":{\"delay\":{\"type\":\"integer\"}}}}".getBytes()).status())
                .isEqualTo(200);
    }

    @AfterAll
    static void stopCluster() {
        if (cluster != null) {
            cluster.close();
        }
        if (home != null) {
            try (var files = Files.walk(home)) {
                files.sorted(java.util.Comparator.reverseOrder()).forEach(f -> f.toFile().delete());
            } catch (java.io.IOException e) {
                // a temporary directory
            }
        }
    }

    @AfterEach
    void closeDevices() throws Exception {
        for (AutoCloseable c : opened) {
            c.close();
        }
    }

    // ---- leases: taken by each node's session registry (ClusterSessions) when a session registers ----

    static Optional<LeaseStore.Lease> lease(String device) {
        return cluster.node(0).sql(h -> new LeaseStore().current(h, T, DeviceId.of(device)));
    }

    /** Waits until node {@code i} has the device's session and its lease; returns the lease's epoch. */
    static long awaitLease(String device, int i) {
        await().atMost(BOUND).until(() -> cluster.node(i).node().sessions().connected(T, DeviceId.of(device))
                && lease(device).map(l -> l.node().equals(TestCluster.nodeId(i))).orElse(false));
        return lease(device).orElseThrow().epoch();
    }

    // ---- devices ----

    /** An SDK device, enrolled and connected through node {@code i}, answering "reboot" with its delay. */
    BulwarkDevice sdk(String id, int i, List<Long> configVersions, boolean enroll) throws Exception {
        TestServer node = cluster.node(i);
        BulwarkDevice.Builder b = BulwarkDevice.builder(DeviceId.of(id))
                .stateDir(home.resolve(id))
                .trustAnchor(cluster.dataDir().resolve("pki/ca.pem"))
                .est(URI.create("https://localhost:" + node.node().deviceHttpsPort()))
                .mqtt(URI.create("ssl://localhost:" + node.node().mqttPort()))
                .backoff(new Backoff(Duration.ofMillis(100), Duration.ofSeconds(1)))
                .onConfig((version, desired) -> {
                    configVersions.add(version);
                    return desired;
                })
                .onCommand(cmd -> BulwarkDevice.CommandResult.ok(JSON.createObjectNode().put("rebootedAfter",
                        cmd.params().path("delay").asInt())));
        if (enroll) {
            cluster.node(0).createDevice(token, id, "thermo");
            b.enrollmentToken(node.api().post("/api/v1/devices/" + id + "/enrollment-tokens", token, null).json().get("token").asText());
        }
        BulwarkDevice d = b.build().start();
        opened.add(d);
        assertThat(d.awaitConnected(Duration.ofSeconds(30))).as("connected: %s", d.stats()).isTrue();
        awaitLease(id, i);
        return d;
    }

    /** A Paho client with the device's certificate on node {@code i}, collecting what it receives on {@code topics}. */
    MqttClient paho(MqttKit.Device device, int i, BlockingQueue<String> inbox, String... topics) throws Exception {
        MqttClient c = new MqttClient("ssl://localhost:" + cluster.node(i).node().mqttPort(), device.id(), new MemoryPersistence());
        MqttConnectOptions o = new MqttConnectOptions();
        o.setSocketFactory(Tls.clientFactory(kit.ca(), device.cert(), device.key()));
        o.setCleanSession(true);
        o.setAutomaticReconnect(false);
        c.connect(o);
        opened.add(() -> {
            if (c.isConnected()) {
                c.disconnectForcibly(1000);
            }
            c.close();
        });
        for (String t : topics) {
            c.subscribe(t, 1, (topic, msg) -> inbox.add(new String(msg.getPayload(), StandardCharsets.UTF_8)));
        }
        return c;
    }

    static String createCommand(int node, String device, int ttlSeconds) {
        ApiClient.Result r = cluster.node(node).api().post("/api/v1/devices/" + device + "/commands", token,
                Map.of("name", "reboot", "params", Map.of("delay", 5), "ttlSeconds", ttlSeconds));
        assertThat(r.status()).as(r.body()).isEqualTo(201);
        return r.json().get("id").asText();
    }

    static JsonNode command(int node, String device, String id) {
        return cluster.node(node).api().get("/api/v1/devices/" + device + "/commands/" + id, token).json();
    }

    // ---- the guarantees ----

    @Test
    void a_command_created_through_node_0_is_executed_by_the_device_on_node_2_and_its_result_read_through_node_1() throws Exception {
        BulwarkDevice d = sdk("thermo-1", 2, new CopyOnWriteArrayList<>(), true);
        long start = System.nanoTime();
        String id = createCommand(0, "thermo-1", 600);
        await().atMost(BOUND).until(() -> command(1, "thermo-1", id).path("state").asText().equals("succeeded"));
        long ms = (System.nanoTime() - start) / 1_000_000;
        JsonNode c = command(1, "thermo-1", id);
        assertThat(c.path("result").path("rebootedAfter").asInt()).as("executed in %d ms", ms).isEqualTo(5);
        assertThat(c.path("deliveredAt").isNull()).isFalse();
        assertThat(d.stats().commandsHandled()).isEqualTo(1);
        assertThat(d.stats().commandsRepeated()).isZero();
    }

    @Test
    void a_desired_configuration_set_through_node_1_reaches_the_device_on_node_2() throws Exception {
        List<Long> versions = new CopyOnWriteArrayList<>();
        sdk("thermo-2", 2, versions, true);
        long start = System.nanoTime();
        ApiClient.Result r = cluster.node(1).api().send("PUT", "/api/v1/devices/thermo-2/config", token, "application/json",
                "{\"interval\":30}".getBytes());
        assertThat(r.status()).isEqualTo(200);
        assertThat(r.json().get("sentToDevice").asBoolean()).as("routed to node 2").isTrue();
        await().atMost(BOUND).until(() -> versions.contains(1L));
        long ms = (System.nanoTime() - start) / 1_000_000;
        await().atMost(BOUND).until(() -> cluster.node(0).api().get("/api/v1/devices/thermo-2/config", token).json()
                .path("reported").path("interval").asInt() == 30);
        assertThat(versions).as("applied once, %d ms after it was set", ms).containsExactly(1L);
    }

    @Test
    void a_command_created_while_the_device_is_offline_is_delivered_when_it_connects_to_node_1_and_after_it_moves_to_node_0()
            throws Exception {
        cluster.node(0).createDevice(token, "thermo-3", "thermo");
        String first = createCommand(2, "thermo-3", 600);
        assertThat(command(0, "thermo-3", first).path("state").asText()).isEqualTo("queued");

        List<Long> versions = new CopyOnWriteArrayList<>();
        String enrollment = cluster.node(1).api().post("/api/v1/devices/thermo-3/enrollment-tokens", token, null).json().get("token").asText();
        BulwarkDevice d = sdkEnrolledWith("thermo-3", 1, enrollment, versions);
        await().atMost(BOUND).until(() -> command(2, "thermo-3", first).path("state").asText().equals("succeeded"));
        assertThat(d.stats().commandsHandled()).isEqualTo(1);

        // the device moves to node 0: what is created on node 2 now reaches it there, and the old route is void
        d.close();
        await().atMost(BOUND).until(() -> !cluster.node(1).node().sessions().connected(T, DeviceId.of("thermo-3")));
        String second = createCommand(2, "thermo-3", 600); // no session anywhere: queued
        BulwarkDevice moved = sdk("thermo-3", 0, versions, false);
        await().atMost(BOUND).until(() -> command(1, "thermo-3", second).path("state").asText().equals("succeeded"));
        assertThat(moved.stats().commandsHandled()).isEqualTo(1);
    }

    private BulwarkDevice sdkEnrolledWith(String id, int i, String enrollment, List<Long> versions) throws Exception {
        TestServer node = cluster.node(i);
        BulwarkDevice d = BulwarkDevice.builder(DeviceId.of(id))
                .stateDir(home.resolve(id))
                .trustAnchor(cluster.dataDir().resolve("pki/ca.pem"))
                .est(URI.create("https://localhost:" + node.node().deviceHttpsPort()))
                .mqtt(URI.create("ssl://localhost:" + node.node().mqttPort()))
                .enrollmentToken(enrollment)
                .backoff(new Backoff(Duration.ofMillis(100), Duration.ofSeconds(1)))
                .onConfig((version, desired) -> {
                    versions.add(version);
                    return desired;
                })
                .onCommand(cmd -> BulwarkDevice.CommandResult.ok(JSON.createObjectNode().put("rebootedAfter", 1)))
                .build().start();
        opened.add(d);
        assertThat(d.awaitConnected(Duration.ofSeconds(30))).as("connected: %s", d.stats()).isTrue();
        awaitLease(id, i);
        return d;
    }

    @Test
    void a_route_whose_lease_was_superseded_delivers_nothing_and_the_new_holder_delivers_on_subscribe() throws Exception {
        MqttKit.Device device = kit.device("thermo-4");
        String commands = "devices/thermo-4/commands";
        // the device on node 2, subscribed to its commands and configuration
        BlockingQueue<String> original = new LinkedBlockingQueue<>();
        paho(device, 2, original, commands, "devices/thermo-4/config/desired");
        long old = awaitLease("thermo-4", 2);
        // a session on node 1 supersedes the lease, and node 2 has not heard of it yet: its session still runs
        long current = cluster.node(1).node().db().tx(h -> new LeaseStore().acquire(h, T, DeviceId.of("thermo-4"), TestCluster.nodeId(1),
                "elsewhere", "127.0.0.1", System.currentTimeMillis())).lease().epoch();
        assertThat(current).isGreaterThan(old);
        assertThat(cluster.node(2).node().sessions().connected(T, DeviceId.of("thermo-4"))).isTrue();

        // routed to node 1, which has no session of it: the command stays queued, the configuration unsent
        ListAppender<ILoggingEvent> log = capture();
        String id = createCommand(0, "thermo-4", 600);
        assertThat(cluster.node(0).api().send("PUT", "/api/v1/devices/thermo-4/config", token, "application/json",
                "{\"interval\":7}".getBytes()).status()).isEqualTo(200);
        // routes with the superseded epoch, to the node that held it and still has a subscribed session
        forge(2, ClusterCommandDelivery.DELIVER, JSON.createObjectNode().put("tenant", "acme").put("device", "thermo-4")
                .put("command", id).put("epoch", old));
        forge(2, ClusterConfigDelivery.PUSH, JSON.createObjectNode().put("tenant", "acme").put("device", "thermo-4")
                .put("version", 1).put("epoch", old));
        // node 2 handles each record: it sends on its session, or records (at debug level) why not
        for (String type : List.of(ClusterCommandDelivery.DELIVER, ClusterConfigDelivery.PUSH)) {
            await().atMost(BOUND).until(() -> !original.isEmpty() || logged(log).stream().anyMatch(m -> m.startsWith(type)
                    && m.contains("thermo-4") && m.contains("epoch " + old + " (") && m.contains("not delivered")));
        }
        assertThat(original).as("nothing sent on the superseded session").isEmpty();
        assertThat(original.poll(300, TimeUnit.MILLISECONDS)).as("nothing sent on the superseded session").isNull();
        assertThat(command(2, "thermo-4", id).path("state").asText()).as("queued: no node marked it delivered").isEqualTo("queued");

        // the device's next session, on node 1, takes the lease and gets the command when it subscribes
        BlockingQueue<String> newer = new LinkedBlockingQueue<>();
        paho(device, 1, newer, commands);
        String got = newer.poll(BOUND.toMillis(), TimeUnit.MILLISECONDS);
        assertThat(got).isNotNull();
        assertThat(JSON.readTree(got).path("id").asText()).isEqualTo(id);
        await().atMost(BOUND).until(() -> command(0, "thermo-4", id).path("state").asText().equals("delivered"));
        assertThat(original).as("still nothing on the superseded session").isEmpty();
    }

    /** Publishes a routed record on node {@code i}'s inbox as another node would. */
    private static void forge(int i, String type, ObjectNode body) throws Exception {
        ObjectNode envelope = JSON.createObjectNode().put("type", type).put("node", TestCluster.nodeId(0))
                .put("time", System.currentTimeMillis());
        envelope.set("body", body);
        try (KafkaProducer<String, byte[]> producer = producer()) {
            producer.send(new ProducerRecord<>(cluster.topicPrefix() + "." + ClusterNode.inbox(TestCluster.nodeId(i)), "acme/thermo-4",
                    JSON.writeValueAsBytes(envelope))).get(10, TimeUnit.SECONDS);
        }
    }

    @Test
    void a_lease_committed_after_the_device_subscribed_still_gets_the_command_routed_meanwhile() throws Exception {
        MqttKit.Device device = kit.device("thermo-6");
        MqttClient first = paho(device, 1, new LinkedBlockingQueue<>());
        awaitLease("thermo-6", 1);
        first.disconnect();
        await().atMost(BOUND).until(() -> lease("thermo-6").map(l -> l.node().isEmpty()).orElse(false));

        // the lease row is locked: the next session's lease is taken only once the lock is gone (a slow database)
        BlockingQueue<String> inbox = new LinkedBlockingQueue<>();
        String id;
        try (org.jdbi.v3.core.Handle lock = cluster.node(0).node().db().open()) {
            lock.begin();
            lock.createQuery("SELECT epoch FROM device_leases WHERE tenant_id = 'acme' AND device_id = 'thermo-6' FOR UPDATE")
                    .mapTo(Long.class).one();
            paho(device, 1, inbox, "devices/thermo-6/commands"); // subscribed, its lease not taken yet
            await().atMost(BOUND).until(() -> cluster.node(1).node().sessions().connected(T, DeviceId.of("thermo-6")));
            id = createCommand(0, "thermo-6", 600); // no lease visible: nothing can be sent
            assertThat(inbox.poll(500, TimeUnit.MILLISECONDS)).isNull();
            lock.rollback();
        }
        String got = inbox.poll(15, TimeUnit.SECONDS);
        assertThat(got).as("routed again once the lease is visible, not stranded until the next connect").isNotNull();
        assertThat(JSON.readTree(got).path("id").asText()).isEqualTo(id);
    }

    @Test
    void a_command_to_a_device_that_never_connects_ends_expired_with_an_explicit_reason_once() throws Exception {
        cluster.node(0).createDevice(token, "thermo-5", "thermo");
        String id = createCommand(0, "thermo-5", 1);
        await().atMost(BOUND).until(() -> command(1, "thermo-5", id).path("state").asText().equals("expired"));
        JsonNode c = command(2, "thermo-5", id);
        assertThat(c.path("expiredBecause").asText()).isEqualTo("not-delivered");
        assertThat(c.path("completedAt").isNull()).isFalse();
        assertThat(c.path("result").isNull()).isTrue();

        // every node expires: one open command is expired by exactly one of them, whatever the interleaving
        // (in a tenant of its own, so the nodes' own expiry and the other tests' commands stay out of the count)
        cluster.node(0).tenantWithOperator("beta", "ops", "tenant-admin");
        TenantId beta = TenantId.of("beta");
        long now = System.currentTimeMillis();
        CommandStore store = new CommandStore();
        int n = 30;
        cluster.node(0).node().db().tx(h -> {
            for (int i = 0; i < n; i++) {
                store.insert(h, new Command(beta, "cmd-race-" + i, DeviceId.of("thermo-5"), "reboot", JSON.createObjectNode(),
                        CommandState.QUEUED, now, now + 3_600_000, null, null, null, "test"));
            }
            return null;
        });
        ExecutorService three = Executors.newFixedThreadPool(3);
        try {
            List<Future<Integer>> counts = new ArrayList<>();
            for (int node = 0; node < 3; node++) {
                TestServer s = cluster.node(node);
                counts.add(three.submit(() -> s.node().db().tx(h -> store.expire(h, beta, now + 7_200_000))));
            }
            int total = 0;
            for (Future<Integer> f : counts) {
                total += f.get(30, TimeUnit.SECONDS);
            }
            assertThat(total).isEqualTo(n);
        } finally {
            three.shutdownNow();
        }
        assertThat(cluster.node(0).count("SELECT COUNT(*) FROM commands WHERE tenant_id = 'beta' AND state = 'expired'")).isEqualTo(n);
    }

    // ---- kit ----

    private static KafkaProducer<String, byte[]> producer() {
        Properties p = new Properties();
        p.put("bootstrap.servers", cluster.kafkaBootstrap());
        p.put("key.serializer", StringSerializer.class.getName());
        p.put("value.serializer", ByteArraySerializer.class.getName());
        return new KafkaProducer<>(p);
    }

    private static List<String> logged(ListAppender<ILoggingEvent> appender) {
        synchronized (appender) { // appends hold the appender's lock
            return appender.list.stream().map(ILoggingEvent::getFormattedMessage).toList();
        }
    }

    /** Captures the routes' debug records (why a route did not deliver), without printing them. */
    private ListAppender<ILoggingEvent> capture() {
        ch.qos.logback.classic.Logger logger = (ch.qos.logback.classic.Logger) LoggerFactory.getLogger(DeviceRoutes.class);
        ListAppender<ILoggingEvent> appender = new ListAppender<>();
        appender.start();
        Level level = logger.getLevel();
        boolean additive = logger.isAdditive();
        logger.setAdditive(false);
        logger.setLevel(Level.DEBUG);
        logger.addAppender(appender);
        opened.add(() -> {
            logger.detachAppender(appender);
            logger.setLevel(level);
            logger.setAdditive(additive);
        });
        return appender;
    }
}
