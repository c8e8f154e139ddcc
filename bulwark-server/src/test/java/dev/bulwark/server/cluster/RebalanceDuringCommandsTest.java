package dev.bulwark.server.cluster;

import static org.assertj.core.api.Assertions.assertThat;
import static org.awaitility.Awaitility.await;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import dev.bulwark.device.Backoff;
import dev.bulwark.device.BulwarkDevice;
import dev.bulwark.protocol.DeviceId;
import dev.bulwark.protocol.TenantId;
import dev.bulwark.server.cli.ApiClient;
import dev.bulwark.server.testkit.TestCluster;
import dev.bulwark.server.testkit.TestServer;
import java.net.URI;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Collection;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Properties;
import java.util.Set;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.regex.Pattern;
import org.apache.kafka.clients.consumer.ConsumerConfig;
import org.apache.kafka.clients.consumer.ConsumerRebalanceListener;
import org.apache.kafka.clients.consumer.KafkaConsumer;
import org.apache.kafka.common.TopicPartition;
import org.apache.kafka.common.serialization.ByteArrayDeserializer;
import org.apache.kafka.common.serialization.StringDeserializer;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.MethodOrderer;
import org.junit.jupiter.api.Order;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.TestMethodOrder;

/**
 * A consumer-group rebalance on the cluster's Kafka while commands are in flight. Bulwark's nodes read their
 * topics without a consumer group (each node is assigned every partition), so a tenant's application joining
 * and leaving a group, even one subscribed to every topic of the cluster (the nodes' inboxes the commands are
 * routed on included), takes nothing from them: every command created through any node's API during the churn
 * ends succeeded, executed once by its device. Then a node stops (cleanly) and comes back while commands are
 * created, the churn still going: every command ends in an explicit state (succeeded, or expired with its
 * reason), none stays open, none runs twice. Real nodes, real Kafka, real PostgreSQL, real SDK devices.
 */
@TestMethodOrder(MethodOrderer.OrderAnnotation.class)
class RebalanceDuringCommandsTest {
    static final ObjectMapper JSON = new ObjectMapper();
    static final TenantId T = TenantId.of("acme");
    static final String GROUP = "acme-dashboard";

    static TestCluster cluster;
    static String token;
    static Path home;
    /** How many times each device's handler ran each command id: device → (command id → runs). */
    static final Map<String, Map<String, AtomicInteger>> executions = new ConcurrentHashMap<>();
    final List<AutoCloseable> opened = new ArrayList<>();

    @BeforeAll
    static void startCluster() throws Exception {
        cluster = TestCluster.start(3);
        token = cluster.node(0).tenantWithOperator("acme", "ops", "tenant-admin");
        home = Files.createTempDirectory("bulwark-rebalance-devices-");
        ApiClient api = cluster.node(0).api();
        assertThat(api.post("/api/v1/models", token, Map.of("id", "thermo")).status()).isEqualTo(201);
        assertThat(api.send("PUT", "/api/v1/models/thermo/commands/reboot", token, "application/json",
                "{\"paramsSchema\":{\"type\":\"object\",\"properties\":{\"n\":{\"type\":\"integer\"}}}}".getBytes()).status())
                .isEqualTo(200);
    }

    @AfterAll
    static void stopCluster() {
        if (cluster != null) {
            cluster.close();
        }
        if (home != null) {
            NodeKillFailoverTest.deleteTree(home);
        }
    }

    @AfterEach
    void closeAll() throws Exception {
        for (int i = opened.size() - 1; i >= 0; i--) {
            opened.get(i).close();
        }
    }

    @Test
    @Order(1)
    void commands_created_through_every_node_while_a_consumer_group_rebalances_all_succeed_executed_once() throws Exception {
        // two devices on each node
        Map<String, BulwarkDevice> devices = new LinkedHashMap<>();
        for (int i = 0; i < 6; i++) {
            TestServer node = cluster.node(i % 3);
            devices.put("thermo-" + i, device("thermo-" + i, List.of(URI.create("ssl://localhost:" + node.node().mqttPort()))));
        }
        startAndAwait(devices.values());
        // their data is on the tenant's topic (northbound), which the group's subscription takes in as it appears
        devices.values().forEach(d -> d.publishTelemetry("{\"celsius\":21}".getBytes(java.nio.charset.StandardCharsets.UTF_8)));
        for (int i = 0; i < 6; i++) {
            int n = i % 3;
            String id = "thermo-" + i;
            await().atMost(Duration.ofSeconds(10)).until(() -> cluster.node(n).node().sessions().connected(T, DeviceId.of(id)));
        }

        GroupChurn churn = churn();
        churn.awaitRebalances(3, Duration.ofSeconds(30));
        int rebalancesBefore = churn.rebalances();

        // 51 commands, each through the next node's API, to the next device; the group rebalances after every sixth
        Map<String, String> commands = new LinkedHashMap<>(); // command id → device
        for (int k = 0; k < 51; k++) {
            String device = "thermo-" + (k % 6);
            commands.put(create(cluster.node(k % 3), device, k, 120), device);
            if (k % 6 == 5) {
                churn.awaitRebalances(1, Duration.ofSeconds(10));
            }
        }
        // every one succeeds, its result readable through a node other than the one it was created through
        awaitEach(commands, 1, Set.of("succeeded"), Duration.ofSeconds(30));
        int during = churn.rebalances() - rebalancesBefore;
        churn.close();

        int k = 0;
        for (Map.Entry<String, String> e : commands.entrySet()) {
            JsonNode c = command(cluster.node((k + 2) % 3), e.getValue(), e.getKey());
            assertThat(c.path("state").asText()).as("%s via node-%d", e.getKey(), (k + 2) % 3).isEqualTo("succeeded");
            assertThat(c.path("result").path("ran").asInt()).isEqualTo(k);
            assertThat(c.path("expiredBecause").isMissingNode() || c.path("expiredBecause").isNull()).isTrue();
            assertThat(runs(e.getValue(), e.getKey())).as("%s executed on %s", e.getKey(), e.getValue()).isEqualTo(1);
            k++;
        }
        assertThat(totalRuns("thermo-")).as("executions of all devices").isEqualTo(commands.size());
        assertThat(churn.sawInboxes()).as("the group read the nodes' inbox topics too: %s", churn.assigned).isTrue();
        assertThat(during).as("rebalances of group %s while the commands were in flight", GROUP).isGreaterThanOrEqualTo(3);
        assertThat(churn.failure.get()).as("the churning consumers").isNull();
    }

    @Test
    @Order(2)
    void a_node_stopping_and_coming_back_during_commands_and_rebalances_leaves_every_command_explicit_and_none_run_twice()
            throws Exception {
        // six devices that list every node, each starting at another: two on each node
        List<URI> nodes = new ArrayList<>();
        for (int i = 0; i < 3; i++) {
            nodes.add(URI.create("ssl://localhost:" + cluster.node(i).node().mqttPort()));
        }
        Map<String, BulwarkDevice> devices = new LinkedHashMap<>();
        for (int i = 0; i < 6; i++) {
            List<URI> mine = new ArrayList<>();
            for (int j = 0; j < 3; j++) {
                mine.add(nodes.get((i + j) % 3));
            }
            devices.put("valve-" + i, device("valve-" + i, mine));
        }
        startAndAwait(devices.values());
        quietAlerts(); // the moved devices' reconnections raise an informational alert, logged at WARN
        GroupChurn churn = churn();
        churn.awaitRebalances(2, Duration.ofSeconds(30));

        int ttl = 15;
        Map<String, String> commands = new LinkedHashMap<>();
        List<Integer> live = new CopyOnWriteArrayList<>(List.of(0, 1, 2));
        ExecutorService stopper = Executors.newSingleThreadExecutor();
        opened.add(stopper::shutdownNow);
        Future<?> stopped = null;
        long stoppedAt = 0;
        for (int k = 0; k < 45; k++) {
            if (k == 15) { // node 1 goes (its two devices move to the next node on their list) while commands keep coming
                live.remove(Integer.valueOf(1));
                stoppedAt = System.nanoTime();
                stopped = stopper.submit(() -> cluster.stop(1));
            }
            if (k == 30) {
                stopped.get(30, TimeUnit.SECONDS);
                cluster.restart(1);
                live.add(1);
            }
            String device = "valve-" + (k % 6);
            commands.put(create(cluster.node(live.get(k % live.size())), device, k, ttl), device);
            if (k % 5 == 4) {
                churn.awaitRebalances(1, Duration.ofSeconds(10));
            }
        }
        long stopMs = (System.nanoTime() - stoppedAt) / 1_000_000;

        // each ends explicit within its time to live (and the second-long expiry sweep), read through node 2
        awaitEach(commands, 2, Set.of("succeeded", "expired"), Duration.ofSeconds(ttl + 15));
        int during = churn.rebalances();
        churn.close();

        Map<String, Integer> outcomes = new LinkedHashMap<>();
        for (Map.Entry<String, String> e : commands.entrySet()) {
            JsonNode c = command(cluster.node(0), e.getValue(), e.getKey());
            String state = c.path("state").asText();
            int ran = runs(e.getValue(), e.getKey());
            outcomes.merge(state + (state.equals("expired") ? "/" + c.path("expiredBecause").asText() : ""), 1, Integer::sum);
            assertThat(ran).as("%s on %s (%s): executed at most once", e.getKey(), e.getValue(), state).isLessThanOrEqualTo(1);
            if (state.equals("succeeded")) {
                assertThat(ran).as("%s succeeded: executed by %s", e.getKey(), e.getValue()).isEqualTo(1);
            } else {
                assertThat(c.path("expiredBecause").asText()).as("%s expired: why", e.getKey()).isIn("not-delivered", "no-result");
                assertThat(c.path("completedAt").isNull()).isFalse();
            }
        }
        String measured = String.format("outcomes %s; node-1 stopped and restarted within %d ms; %d rebalances", outcomes, stopMs, during);
        assertThat(outcomes.getOrDefault("succeeded", 0)).as(measured).isGreaterThan(0);
        assertThat(totalRuns("valve-")).as(measured).isLessThanOrEqualTo(commands.size());
        assertThat(churn.failure.get()).as("the churning consumers").isNull();
        for (String moved : List.of("valve-1", "valve-4")) { // on node 1 when it stopped
            assertThat(devices.get(moved).stats().connects()).as("%s reconnected elsewhere; %s", moved, measured).isGreaterThan(1);
        }
        // every device is connected again, to a live node
        await().atMost(Duration.ofSeconds(10)).until(() -> devices.values().stream().allMatch(d -> d.stats().connected()));
    }

    // ---- devices and commands ----

    /** An SDK device enrolled through node 0 whose handler counts the runs of each command id. */
    BulwarkDevice device(String id, List<URI> mqtt) {
        cluster.node(0).createDevice(token, id, "thermo");
        String enrollment = cluster.node(0).api().post("/api/v1/devices/" + id + "/enrollment-tokens", token, null).json()
                .get("token").asText();
        Map<String, AtomicInteger> mine = executions.computeIfAbsent(id, d -> new ConcurrentHashMap<>());
        BulwarkDevice d = BulwarkDevice.builder(DeviceId.of(id))
                .stateDir(home.resolve(id))
                .trustAnchor(cluster.dataDir().resolve("pki/ca.pem"))
                .est(URI.create("https://localhost:" + cluster.node(0).node().deviceHttpsPort()))
                .mqttEndpoints(mqtt)
                .enrollmentToken(enrollment)
                .backoff(new Backoff(Duration.ofMillis(100), Duration.ofSeconds(1)))
                .onCommand(cmd -> {
                    mine.computeIfAbsent(cmd.id(), c -> new AtomicInteger()).incrementAndGet();
                    return BulwarkDevice.CommandResult.ok(JSON.createObjectNode().put("ran", cmd.params().path("n").asInt()));
                })
                .build();
        opened.add(d);
        return d;
    }

    /** Lowers the alert log to errors until the test ends. */
    void quietAlerts() {
        ch.qos.logback.classic.Logger alerts = (ch.qos.logback.classic.Logger) org.slf4j.LoggerFactory.getLogger("bulwark.alerts");
        ch.qos.logback.classic.Level level = alerts.getLevel();
        alerts.setLevel(ch.qos.logback.classic.Level.ERROR);
        opened.add(() -> alerts.setLevel(level));
    }

    static void startAndAwait(Collection<BulwarkDevice> devices) throws InterruptedException {
        devices.forEach(BulwarkDevice::start);
        for (BulwarkDevice d : devices) {
            assertThat(d.awaitConnected(Duration.ofSeconds(30))).as("%s connected: %s", d.id(), d.stats()).isTrue();
        }
    }

    static int runs(String device, String command) {
        AtomicInteger n = executions.getOrDefault(device, Map.of()).get(command);
        return n == null ? 0 : n.get();
    }

    static int totalRuns(String prefix) {
        return executions.entrySet().stream().filter(e -> e.getKey().startsWith(prefix))
                .mapToInt(e -> e.getValue().values().stream().mapToInt(AtomicInteger::get).sum()).sum();
    }

    static String create(TestServer node, String device, int n, int ttlSeconds) {
        ApiClient.Result r = node.api().post("/api/v1/devices/" + device + "/commands", token,
                Map.of("name", "reboot", "params", Map.of("n", n), "ttlSeconds", ttlSeconds));
        assertThat(r.status()).as(r.body()).isEqualTo(201);
        return r.json().get("id").asText();
    }

    static JsonNode command(TestServer node, String device, String id) {
        ApiClient.Result r = node.api().get("/api/v1/devices/" + device + "/commands/" + id, token);
        assertThat(r.status()).as(r.body()).isEqualTo(200);
        return r.json();
    }

    static String state(TestServer node, String device, String id) {
        return command(node, device, id).path("state").asText();
    }

    /** Waits until each command (id → device) is in one of {@code states}, read through node {@code i}. */
    static void awaitEach(Map<String, String> commands, int i, Set<String> states, Duration within) {
        Map<String, String> open = new ConcurrentHashMap<>(commands);
        try {
            await("commands " + states).atMost(within).pollInterval(Duration.ofMillis(100)).until(() -> {
                open.entrySet().removeIf(e -> states.contains(state(cluster.node(i), e.getValue(), e.getKey())));
                return open.isEmpty();
            });
        } catch (org.awaitility.core.ConditionTimeoutException e) {
            throw new AssertionError("not " + states + " after " + within + ": " + open.entrySet().stream()
                    .map(c -> c.getValue() + " " + command(cluster.node(i), c.getValue(), c.getKey())).toList(), e);
        }
    }

    // ---- the consumer group ----

    GroupChurn churn() {
        GroupChurn c = new GroupChurn(cluster.kafkaBootstrap(), Pattern.compile(Pattern.quote(cluster.topicPrefix()) + "\\..*"),
                cluster.topicPrefix() + "." + ClusterNode.inbox(""));
        opened.add(c);
        return c;
    }

    /**
     * Three consumers of one group, as a tenant's application would run them, subscribed to every topic of the
     * cluster: each joins, polls until it is in the group and a moment more (up to 0.7 s) and leaves, over and
     * over, so the group rebalances all the time. Counts the group's generations (one per rebalance).
     */
    static final class GroupChurn implements AutoCloseable {
        private final AtomicBoolean stop = new AtomicBoolean();
        private final Set<Integer> generations = ConcurrentHashMap.newKeySet();
        final Set<String> assigned = ConcurrentHashMap.newKeySet();
        final java.util.concurrent.atomic.AtomicReference<Throwable> failure = new java.util.concurrent.atomic.AtomicReference<>();
        private final String inboxPrefix;
        private final ExecutorService threads = Executors.newFixedThreadPool(3);

        GroupChurn(String bootstrap, Pattern topics, String inboxPrefix) {
            this.inboxPrefix = inboxPrefix;
            for (int i = 0; i < 3; i++) {
                int member = i;
                threads.submit(() -> {
                    try {
                        churn(bootstrap, topics, member);
                    } catch (Throwable t) {
                        if (!stop.get()) {
                            failure.compareAndSet(null, t);
                        }
                    }
                });
            }
        }

        private void churn(String bootstrap, Pattern topics, int member) {
            Properties p = new Properties();
            p.put(ConsumerConfig.BOOTSTRAP_SERVERS_CONFIG, bootstrap);
            p.put(ConsumerConfig.GROUP_ID_CONFIG, GROUP);
            p.put(ConsumerConfig.KEY_DESERIALIZER_CLASS_CONFIG, StringDeserializer.class.getName());
            p.put(ConsumerConfig.VALUE_DESERIALIZER_CLASS_CONFIG, ByteArrayDeserializer.class.getName());
            p.put(ConsumerConfig.AUTO_OFFSET_RESET_CONFIG, "earliest");
            p.put(ConsumerConfig.METADATA_MAX_AGE_CONFIG, "1000");
            long round = 0;
            while (!stop.get()) {
                try (KafkaConsumer<String, byte[]> c = new KafkaConsumer<>(p)) {
                    AtomicBoolean in = new AtomicBoolean();
                    c.subscribe(topics, new ConsumerRebalanceListener() {
                        @Override
                        public void onPartitionsRevoked(Collection<TopicPartition> partitions) {
                        }

                        @Override
                        public void onPartitionsAssigned(Collection<TopicPartition> partitions) {
                            partitions.forEach(tp -> assigned.add(tp.topic()));
                            generations.add(c.groupMetadata().generationId());
                            in.set(true);
                        }
                    });
                    // in the group once a rebalance including this member completed (bounded, on a loaded machine), then a moment more
                    long joined = System.nanoTime();
                    while (!stop.get() && !in.get() && System.nanoTime() - joined < TimeUnit.SECONDS.toNanos(20)) {
                        c.poll(Duration.ofMillis(100));
                    }
                    long until = System.nanoTime() + TimeUnit.MILLISECONDS.toNanos(100 + 300L * ((member + round++) % 3));
                    while (!stop.get() && System.nanoTime() < until) {
                        c.poll(Duration.ofMillis(100));
                    }
                }
            }
        }

        int rebalances() {
            return generations.size();
        }

        boolean sawInboxes() {
            return assigned.stream().anyMatch(t -> t.startsWith(inboxPrefix));
        }

        void awaitRebalances(int n, Duration within) {
            int from = rebalances();
            await("rebalances of " + GROUP).atMost(within).until(() -> rebalances() >= from + n);
        }

        @Override
        public void close() throws InterruptedException {
            if (stop.compareAndSet(false, true)) {
                threads.shutdown();
                assertThat(threads.awaitTermination(30, TimeUnit.SECONDS)).as("the churning consumers stopped").isTrue();
            }
        }
    }
}
