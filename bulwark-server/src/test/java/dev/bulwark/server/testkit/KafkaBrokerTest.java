package dev.bulwark.server.testkit;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.UUID;
import java.util.concurrent.Future;
import java.util.concurrent.TimeUnit;
import java.util.stream.IntStream;
import org.apache.kafka.clients.admin.Admin;
import org.apache.kafka.clients.admin.AdminClientConfig;
import org.apache.kafka.clients.admin.NewTopic;
import org.apache.kafka.clients.consumer.ConsumerConfig;
import org.apache.kafka.clients.consumer.ConsumerRecord;
import org.apache.kafka.clients.consumer.KafkaConsumer;
import org.apache.kafka.clients.consumer.OffsetAndMetadata;
import org.apache.kafka.clients.producer.KafkaProducer;
import org.apache.kafka.clients.producer.ProducerConfig;
import org.apache.kafka.clients.producer.ProducerRecord;
import org.apache.kafka.clients.producer.RecordMetadata;
import org.apache.kafka.common.TopicPartition;
import org.apache.kafka.common.serialization.StringDeserializer;
import org.apache.kafka.common.serialization.StringSerializer;
import org.awaitility.Awaitility;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

class KafkaBrokerTest {
    private static final int COUNT = 100;
    private static final List<String> VALUES = IntStream.range(0, COUNT).mapToObj(i -> "reading-" + i).toList();

    @Test
    void records_and_committed_offsets_survive_a_restart_on_the_same_port() throws Exception {
        try (KafkaBroker broker = KafkaBroker.start()) {
            String bootstrap = broker.bootstrap();
            String topic = "kit-restart-" + UUID.randomUUID();
            createTopic(bootstrap, topic);
            produce(bootstrap, topic);
            assertThat(consume(bootstrap, topic, "first")).isEqualTo(VALUES);

            broker.restart();

            assertThat(broker.bootstrap()).isEqualTo(bootstrap);
            assertThat(consume(bootstrap, topic, "second")).isEqualTo(VALUES);
            assertThat(committed(bootstrap, "first", topic)).isEqualTo(COUNT);
        }
    }

    @Test
    void acknowledged_records_survive_a_kill(@TempDir Path dir) throws Exception {
        try (KafkaBroker broker = KafkaBroker.start(dir)) {
            String topic = "kit-kill-" + UUID.randomUUID();
            createTopic(broker.bootstrap(), topic);
            produce(broker.bootstrap(), topic);

            broker.kill();
            assertThat(broker.isRunning()).isFalse();
            broker.restart();

            assertThat(consume(broker.bootstrap(), topic, "after-kill")).isEqualTo(VALUES);
        }
    }

    @Test
    void the_shared_broker_is_one_per_jvm_and_is_never_stopped_by_a_test() throws Exception {
        KafkaBroker broker = KafkaBroker.shared();
        assertThat(KafkaBroker.shared()).isSameAs(broker);
        String topic = "kit-shared-" + UUID.randomUUID();
        createTopic(broker.bootstrap(), topic);
        produce(broker.bootstrap(), topic);
        assertThat(consume(broker.bootstrap(), topic, "shared")).isEqualTo(VALUES);

        assertThatThrownBy(broker::restart).isInstanceOf(IllegalStateException.class);
        assertThatThrownBy(broker::close).isInstanceOf(IllegalStateException.class);
        assertThat(broker.isRunning()).isTrue();
    }

    private static void createTopic(String bootstrap, String topic) throws Exception {
        try (Admin admin = admin(bootstrap)) {
            admin.createTopics(List.of(new NewTopic(topic, 1, (short) 1))).all().get();
        }
    }

    private static void produce(String bootstrap, String topic) throws Exception {
        try (KafkaProducer<String, String> producer = new KafkaProducer<>(Map.of(
                ProducerConfig.BOOTSTRAP_SERVERS_CONFIG, bootstrap,
                ProducerConfig.ACKS_CONFIG, "all",
                ProducerConfig.ENABLE_IDEMPOTENCE_CONFIG, true),
                new StringSerializer(), new StringSerializer())) {
            List<Future<RecordMetadata>> acks = new ArrayList<>();
            for (int i = 0; i < COUNT; i++) {
                acks.add(producer.send(new ProducerRecord<>(topic, "device-" + (i % 7), VALUES.get(i))));
            }
            for (Future<RecordMetadata> ack : acks) {
                ack.get(30, TimeUnit.SECONDS);
            }
        }
    }

    /** Every record of the topic in order, read by a consumer group that commits what it read. */
    private static List<String> consume(String bootstrap, String topic, String group) {
        List<String> seen = new ArrayList<>();
        try (KafkaConsumer<String, String> consumer = new KafkaConsumer<>(Map.of(
                ConsumerConfig.BOOTSTRAP_SERVERS_CONFIG, bootstrap,
                ConsumerConfig.GROUP_ID_CONFIG, group,
                ConsumerConfig.AUTO_OFFSET_RESET_CONFIG, "earliest",
                ConsumerConfig.ENABLE_AUTO_COMMIT_CONFIG, false),
                new StringDeserializer(), new StringDeserializer())) {
            consumer.subscribe(Set.of(topic));
            Awaitility.await().atMost(Duration.ofSeconds(30)).until(() -> {
                for (ConsumerRecord<String, String> r : consumer.poll(Duration.ofMillis(100))) {
                    seen.add(r.value());
                }
                return seen.size() >= COUNT;
            });
            consumer.commitSync();
        }
        return seen;
    }

    private static long committed(String bootstrap, String group, String topic) throws Exception {
        try (Admin admin = admin(bootstrap)) {
            Map<TopicPartition, OffsetAndMetadata> offsets =
                    admin.listConsumerGroupOffsets(group).partitionsToOffsetAndMetadata().get();
            return offsets.get(new TopicPartition(topic, 0)).offset();
        }
    }

    private static Admin admin(String bootstrap) {
        return Admin.create(Map.of(AdminClientConfig.BOOTSTRAP_SERVERS_CONFIG, bootstrap));
    }
}
