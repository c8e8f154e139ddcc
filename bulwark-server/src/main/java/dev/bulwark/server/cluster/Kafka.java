package dev.bulwark.server.cluster;

import dev.bulwark.server.config.ClusterSettings;
import java.io.IOException;
import java.io.InputStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.attribute.PosixFilePermission;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.Properties;
import java.util.Set;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.TimeoutException;
import org.apache.kafka.clients.admin.Admin;
import org.apache.kafka.clients.admin.AdminClientConfig;
import org.apache.kafka.clients.admin.NewTopic;
import org.apache.kafka.clients.consumer.ConsumerConfig;
import org.apache.kafka.clients.consumer.KafkaConsumer;
import org.apache.kafka.clients.producer.KafkaProducer;
import org.apache.kafka.clients.producer.ProducerConfig;
import org.apache.kafka.common.errors.TopicExistsException;
import org.apache.kafka.common.serialization.ByteArrayDeserializer;
import org.apache.kafka.common.serialization.ByteArraySerializer;
import org.apache.kafka.common.serialization.StringDeserializer;
import org.apache.kafka.common.serialization.StringSerializer;

/**
 * The node's Kafka clients, all built from one set of connection settings: the bootstrap servers and, when
 * the cluster's Kafka needs TLS or SASL, the client properties file given by {@code --kafka-config} (its keys
 * are Kafka's own: {@code security.protocol}, {@code ssl.truststore.location}, {@code sasl.mechanism},
 * {@code sasl.jaas.config}, ...). That file may hold credentials, so it is refused unless only its owner can
 * read it, and its values never appear in logs or errors.
 */
public final class Kafka {
    private static final org.slf4j.Logger LOG = org.slf4j.LoggerFactory.getLogger(Kafka.class);
    private final ClusterSettings settings;
    private final Properties connection;

    public Kafka(ClusterSettings settings) {
        this.settings = settings;
        this.connection = new Properties();
        if (settings.clientConfig() != null) {
            connection.putAll(load(settings.clientConfig()));
        }
        connection.put(AdminClientConfig.BOOTSTRAP_SERVERS_CONFIG, String.join(",", settings.bootstrap()));
        String protocol = String.valueOf(connection.getOrDefault("security.protocol", "PLAINTEXT"));
        boolean remote = settings.bootstrap().stream().anyMatch(b -> !(b.startsWith("127.") || b.startsWith("localhost:") || b.startsWith("[::1]:")));
        if (remote && !protocol.toUpperCase(java.util.Locale.ROOT).contains("SSL")) {
            LOG.warn("**************************************************************************************************");
            LOG.warn("* Kafka at {} is reached WITHOUT TLS: the cluster bus carries security events, source addresses", String.join(",",
                    settings.bootstrap()));
            LOG.warn("* and device data in clear. Give --kafka-config with security.protocol=SSL or SASL_SSL.");
            LOG.warn("**************************************************************************************************");
        }
        connection.put(AdminClientConfig.CLIENT_ID_CONFIG, "bulwark-" + settings.nodeId());
    }

    public ClusterSettings settings() {
        return settings;
    }

    public String nodeId() {
        return settings.nodeId();
    }

    /** A topic name of this cluster: {@code <prefix>.<name>}. */
    public String topic(String name) {
        return settings.topicPrefix() + "." + name;
    }

    private static Properties load(Path file) {
        try {
            if (Files.getFileStore(file).supportsFileAttributeView("posix")) {
                Set<PosixFilePermission> perms = Files.getPosixFilePermissions(file);
                for (PosixFilePermission p : perms) {
                    if (p.name().startsWith("GROUP") || p.name().startsWith("OTHERS")) {
                        throw new IllegalArgumentException("--kafka-config " + file + " may hold credentials: make it readable by its owner only "
                                + "(chmod 600)");
                    }
                }
            }
            Properties p = new Properties();
            try (InputStream in = Files.newInputStream(file)) {
                p.load(in);
            }
            return p;
        } catch (IOException e) {
            throw new IllegalArgumentException("cannot read --kafka-config " + file + ": " + e.getClass().getSimpleName());
        }
    }

    private Properties with(Map<String, Object> more) {
        Properties p = new Properties();
        p.putAll(connection);
        p.putAll(more);
        return p;
    }

    /**
     * A producer that acknowledges a record only once every in-sync replica has it, idempotent (a retry never
     * duplicates or reorders a key's records), keys and values as bytes.
     */
    public KafkaProducer<String, byte[]> producer(String role, int lingerMs) {
        return producer(role, lingerMs, Map.of());
    }

    /** {@link #producer(String, int)} with further producer settings ({@code extra} wins). */
    public KafkaProducer<String, byte[]> producer(String role, int lingerMs, Map<String, Object> extra) {
        Map<String, Object> config = new java.util.HashMap<>(Map.of(
                ProducerConfig.CLIENT_ID_CONFIG, "bulwark-" + settings.nodeId() + "-" + role,
                ProducerConfig.ACKS_CONFIG, "all",
                ProducerConfig.ENABLE_IDEMPOTENCE_CONFIG, true,
                ProducerConfig.LINGER_MS_CONFIG, lingerMs,
                ProducerConfig.DELIVERY_TIMEOUT_MS_CONFIG, 120_000,
                ProducerConfig.REQUEST_TIMEOUT_MS_CONFIG, 10_000,
                ProducerConfig.MAX_BLOCK_MS_CONFIG, 5_000));
        config.putAll(extra);
        return new KafkaProducer<>(with(config), new StringSerializer(), new ByteArraySerializer());
    }

    /**
     * A consumer: in {@code group} when given (the partitions are shared among the group's nodes), else without
     * a group (the caller assigns partitions itself and no offsets are committed).
     */
    public KafkaConsumer<String, byte[]> consumer(String role, String group) {
        Map<String, Object> more = new java.util.HashMap<>(Map.of(
                ConsumerConfig.CLIENT_ID_CONFIG, "bulwark-" + settings.nodeId() + "-" + role,
                ConsumerConfig.ENABLE_AUTO_COMMIT_CONFIG, false,
                ConsumerConfig.AUTO_OFFSET_RESET_CONFIG, "latest",
                ConsumerConfig.MAX_POLL_RECORDS_CONFIG, 500,
                ConsumerConfig.FETCH_MAX_WAIT_MS_CONFIG, 50));
        if (group != null) {
            more.put(ConsumerConfig.GROUP_ID_CONFIG, group);
        }
        return new KafkaConsumer<>(with(more), new StringDeserializer(), new ByteArrayDeserializer());
    }

    /** An admin client, for creating topics. */
    public Admin admin() {
        return Admin.create(with(Map.of(AdminClientConfig.REQUEST_TIMEOUT_MS_CONFIG, 10_000,
                AdminClientConfig.DEFAULT_API_TIMEOUT_MS_CONFIG, 30_000)));
    }

    /** A topic to create if absent. */
    public record TopicSpec(String name, int partitions, Map<String, String> config) {
    }

    /** Creates the topics that do not exist yet (several nodes may race to create one: that is fine). */
    public void ensureTopics(List<TopicSpec> specs) {
        try (Admin admin = admin()) {
            Set<String> existing = admin.listTopics().names().get(30, TimeUnit.SECONDS);
            List<NewTopic> missing = new ArrayList<>();
            for (TopicSpec s : specs) {
                if (!existing.contains(s.name())) {
                    missing.add(new NewTopic(s.name(), s.partitions(), (short) replication(admin)).configs(s.config()));
                }
            }
            if (missing.isEmpty()) {
                return;
            }
            var result = admin.createTopics(missing);
            for (var e : result.values().entrySet()) {
                try {
                    e.getValue().get(30, TimeUnit.SECONDS);
                } catch (ExecutionException ex) {
                    if (!(ex.getCause() instanceof TopicExistsException)) {
                        throw new IllegalStateException("cannot create Kafka topic " + e.getKey() + ": " + ex.getCause().getMessage());
                    }
                }
            }
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new IllegalStateException("interrupted while creating Kafka topics");
        } catch (ExecutionException | TimeoutException e) {
            throw new IllegalStateException("cannot reach Kafka at " + String.join(",", settings.bootstrap()) + ": "
                    + (e.getCause() == null ? e.getClass().getSimpleName() : e.getCause().getMessage()));
        }
    }

    /** Replicas per topic: three where the cluster has three brokers, else as many as it has. */
    private static int replication(Admin admin) throws InterruptedException, ExecutionException, TimeoutException {
        int brokers = admin.describeCluster().nodes().get(30, TimeUnit.SECONDS).size();
        return Math.max(1, Math.min(3, brokers));
    }
}
