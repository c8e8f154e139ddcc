package dev.bulwark.server.cluster;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ObjectNode;
import dev.bulwark.server.core.Clock;
import java.time.Duration;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.locks.LockSupport;
import java.util.concurrent.atomic.AtomicLong;
import java.util.function.Consumer;
import org.apache.kafka.clients.consumer.ConsumerRecord;
import org.apache.kafka.clients.consumer.KafkaConsumer;
import org.apache.kafka.clients.producer.KafkaProducer;
import org.apache.kafka.clients.producer.ProducerRecord;
import org.apache.kafka.common.PartitionInfo;
import org.apache.kafka.common.TopicPartition;
import org.apache.kafka.common.errors.WakeupException;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * What the nodes of a cluster tell each other, over Kafka: every record is a small JSON envelope
 * {@code {"type", "node", "time", "body"}} on one of the cluster's topics, keyed (per device, per source, ...)
 * so that one key's records stay in order. Every node reads every partition of the topics it listens to,
 * without a consumer group (a termination, a ban or a takeover concerns every node), from the end of each
 * partition as it was when the node started, or from the beginning for the compacted topics that hold
 * current state (bans). A node hears its own records too: handlers that must act once in the cluster act on
 * the records whose {@code node} is their own.
 *
 * <p>Handlers run one at a time on the bus's thread, in the order of each partition; they must not block for
 * long (a slow handler delays every later record). Kafka being unreachable does not stop the node: records
 * published meanwhile wait in the producer (up to its delivery timeout), and the reader resumes where it was.
 * {@link #publish} never blocks its caller (an API request, an event loop): the bus's sender thread hands each
 * record to the producer, in the order published, which may itself wait for Kafka's metadata up to its
 * {@code max.block.ms}; at most {@value #SEND_QUEUE} records wait for it, beyond which a publish fails at once.
 */
public final class ClusterBus implements AutoCloseable {
    private static final Logger LOG = LoggerFactory.getLogger(ClusterBus.class);
    private static final ObjectMapper JSON = new ObjectMapper();

    /** One record: its type, the node that published it, when, and its body. */
    public record Envelope(String topic, String key, String type, String node, long timeMs, JsonNode body) {
    }

    private final Kafka kafka;
    private final Clock clock;
    private final Map<String, Map<String, List<Consumer<Envelope>>>> handlers = new ConcurrentHashMap<>();
    private final Map<String, Kafka.TopicSpec> topics = new HashMap<>();
    private final Map<String, Boolean> fromBeginning = new HashMap<>();
    private final KafkaProducer<String, byte[]> producer;
    /** Records waiting for the sender thread, at most. */
    static final int SEND_QUEUE = 100_000;
    private final java.util.concurrent.ThreadPoolExecutor sender = new java.util.concurrent.ThreadPoolExecutor(1, 1, 0,
            TimeUnit.MILLISECONDS, new java.util.concurrent.LinkedBlockingQueue<>(SEND_QUEUE), r -> {
                Thread t = new Thread(r, "bulwark-cluster-publish");
                t.setDaemon(true);
                return t;
            });
    private final AtomicLong published = new AtomicLong();
    private final AtomicLong received = new AtomicLong();
    private final AtomicLong failedPublishes = new AtomicLong();
    private final List<Runnable> onStart = new ArrayList<>();
    private volatile KafkaConsumer<String, byte[]> consumer;
    private volatile Thread reader;
    private volatile boolean closed;

    public ClusterBus(Kafka kafka, Clock clock) {
        this.kafka = kafka;
        this.clock = clock;
        this.producer = kafka.producer("bus", 0);
    }

    public String nodeId() {
        return kafka.nodeId();
    }

    public Kafka kafka() {
        return kafka;
    }

    /**
     * Declares a topic this node listens to ({@code name} without the cluster's prefix); created if absent.
     * {@code replay} reads it from the beginning at start (compacted state), else from its end.
     */
    public synchronized ClusterBus listen(String name, int partitions, Map<String, String> config, boolean replay) {
        if (reader != null) {
            throw new IllegalStateException("topics are declared before the bus starts");
        }
        String topic = kafka.topic(name);
        topics.put(topic, new Kafka.TopicSpec(topic, partitions, config));
        fromBeginning.put(topic, replay);
        return this;
    }

    /** Runs {@code handler} for each record of {@code type} on topic {@code name} (without prefix). */
    public void on(String name, String type, Consumer<Envelope> handler) {
        handlers.computeIfAbsent(kafka.topic(name), t -> new ConcurrentHashMap<>())
                .computeIfAbsent(type, t -> new CopyOnWriteArrayList<>()).add(handler);
    }

    /** Whether {@code e} was published by this node. */
    public boolean own(Envelope e) {
        return kafka.nodeId().equals(e.node());
    }

    /**
     * Creates the declared topics if absent, positions the reader on each partition, and starts reading;
     * returns once the reader is positioned, so a record published after this returns is never missed.
     */
    public synchronized void start() {
        kafka.ensureTopics(new ArrayList<>(topics.values()));
        for (String topic : topics.keySet()) {
            try {
                producer.partitionsFor(topic); // known from now on: a publish while Kafka is away waits in the producer
            } catch (RuntimeException e) {
                LOG.warn("cluster bus: no metadata of {} yet: {}", topic, e.toString());
            }
        }
        KafkaConsumer<String, byte[]> c = kafka.consumer("bus", null);
        List<TopicPartition> partitions = new ArrayList<>();
        for (String topic : topics.keySet()) {
            for (PartitionInfo p : partitionsOf(c, topic)) {
                partitions.add(new TopicPartition(topic, p.partition()));
            }
        }
        c.assign(partitions);
        List<TopicPartition> replayed = partitions.stream().filter(p -> fromBeginning.get(p.topic())).toList();
        List<TopicPartition> tailed = partitions.stream().filter(p -> !fromBeginning.get(p.topic())).toList();
        c.seekToBeginning(replayed);
        c.seekToEnd(tailed);
        for (TopicPartition p : partitions) {
            c.position(p, Duration.ofSeconds(30)); // resolves the seek now, not at the first poll
        }
        consumer = c;
        CountDownLatch caughtUp = new CountDownLatch(1);
        Map<TopicPartition, Long> replayEnd = replayed.isEmpty() ? Map.of() : c.endOffsets(replayed, Duration.ofSeconds(30));
        reader = new Thread(() -> read(c, replayEnd, caughtUp), "bulwark-cluster-bus");
        reader.setDaemon(true);
        reader.start();
        try {
            if (!caughtUp.await(60, TimeUnit.SECONDS)) {
                LOG.warn("the cluster bus has not replayed its state topics within 60 s; going on");
            }
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        }
        onStart.forEach(Runnable::run);
        onStart.clear();
    }

    /**
     * The topic's partitions. A topic just created (by this node or another) can be missing from the broker's
     * metadata for a moment, and {@code partitionsFor} answers an empty list meanwhile: asked again until it
     * has them, for up to 30 s, else the start fails (a reader without the topic would never hear it).
     */
    private static List<PartitionInfo> partitionsOf(KafkaConsumer<String, byte[]> c, String topic) {
        long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(30);
        while (true) {
            List<PartitionInfo> infos = c.partitionsFor(topic, Duration.ofSeconds(30));
            if (infos != null && !infos.isEmpty()) {
                return infos;
            }
            if (System.nanoTime() > deadline) {
                throw new IllegalStateException("Kafka topic " + topic + " has no partitions in the broker's metadata 30 s after it was created");
            }
            LockSupport.parkNanos(TimeUnit.MILLISECONDS.toNanos(100));
        }
    }

    /**
     * Runs {@code r} once the bus has started (at once if it has): for a part that publishes on its own (a periodic
     * report), since a declared topic exists only from then on.
     */
    public synchronized void whenStarted(Runnable r) {
        if (reader != null) {
            r.run();
        } else {
            onStart.add(r);
        }
    }

    /** Whether {@link #start} has run. */
    public boolean started() {
        return reader != null;
    }

    private void read(KafkaConsumer<String, byte[]> c, Map<TopicPartition, Long> replayEnd, CountDownLatch caughtUp) {
        Map<TopicPartition, Long> pending = new HashMap<>(replayEnd);
        pending.entrySet().removeIf(e -> e.getValue() == 0);
        if (pending.isEmpty()) {
            caughtUp.countDown();
        }
        while (!closed) {
            try {
                for (ConsumerRecord<String, byte[]> r : c.poll(Duration.ofMillis(200))) {
                    received.incrementAndGet();
                    dispatch(r);
                    TopicPartition tp = new TopicPartition(r.topic(), r.partition());
                    Long end = pending.get(tp);
                    if (end != null && r.offset() + 1 >= end) {
                        pending.remove(tp);
                    }
                }
                if (caughtUp.getCount() > 0) {
                    pending.entrySet().removeIf(e -> c.position(e.getKey()) >= e.getValue());
                    if (pending.isEmpty()) {
                        caughtUp.countDown();
                    }
                }
            } catch (WakeupException e) {
                if (closed) {
                    break;
                }
            } catch (RuntimeException e) {
                if (closed) {
                    break;
                }
                LOG.warn("cluster bus: reading failed, retrying: {}", e.toString());
                LockSupport.parkNanos(TimeUnit.MILLISECONDS.toNanos(500)); // a failure that repeats at once must not flood the log
            }
        }
        c.close(Duration.ofSeconds(5));
    }

    private void dispatch(ConsumerRecord<String, byte[]> r) {
        Map<String, List<Consumer<Envelope>>> byType = handlers.get(r.topic());
        if (byType == null || r.value() == null) {
            return;
        }
        Envelope e;
        try {
            JsonNode n = JSON.readTree(r.value());
            e = new Envelope(r.topic(), r.key(), n.path("type").asText(), n.path("node").asText(), n.path("time").asLong(), n.path("body"));
        } catch (java.io.IOException | RuntimeException bad) {
            LOG.warn("cluster bus: ignored a malformed record on {} at offset {}", r.topic(), r.offset());
            return;
        }
        List<Consumer<Envelope>> hs = byType.get(e.type());
        if (hs == null) {
            return;
        }
        for (Consumer<Envelope> h : hs) {
            try {
                h.accept(e);
            } catch (RuntimeException ex) {
                LOG.error("cluster bus: handler of {} on {} failed", e.type(), r.topic(), ex);
            }
        }
    }

    /** A new, empty body to fill and publish. */
    public static ObjectNode body() {
        return JSON.createObjectNode();
    }

    /**
     * Publishes a record of {@code type} on topic {@code name} (without prefix) under {@code key}; the future
     * completes once Kafka has it (every in-sync replica), or fails.
     */
    public CompletableFuture<Void> publish(String name, String key, String type, JsonNode body) {
        ObjectNode n = JSON.createObjectNode();
        n.put("type", type).put("node", kafka.nodeId()).put("time", clock.nowMs()).set("body", body);
        CompletableFuture<Void> done = new CompletableFuture<>();
        byte[] value;
        try {
            value = JSON.writeValueAsBytes(n);
        } catch (com.fasterxml.jackson.core.JsonProcessingException e) {
            done.completeExceptionally(e);
            return done;
        }
        send(new ProducerRecord<>(kafka.topic(name), key, value), type, done);
        return done;
    }

    /** Hands {@code record} to the producer on the sender thread; {@code done} completes once Kafka has it, or fails. */
    private void send(ProducerRecord<String, byte[]> record, String type, CompletableFuture<Void> done) {
        Runnable sending = () -> {
            try {
                producer.send(record, (meta, err) -> {
                    if (err != null) {
                        failed(type, err, done);
                    } else {
                        published.incrementAndGet();
                        done.complete(null);
                    }
                });
            } catch (RuntimeException e) {
                failed(type, e, done);
            }
        };
        try {
            sender.execute(sending);
        } catch (java.util.concurrent.RejectedExecutionException full) {
            failed(type, full, done);
        }
    }

    private void failed(String type, Throwable err, CompletableFuture<Void> done) {
        failedPublishes.incrementAndGet();
        if (closed) {
            LOG.debug("cluster bus: a {} record was not published while the node stopped: {}", type, err.toString());
        } else {
            LOG.warn("cluster bus: a {} record could not be published: {}", type, err.toString());
        }
        done.completeExceptionally(err);
    }

    /** A tombstone: removes {@code key} from a compacted topic. */
    public CompletableFuture<Void> delete(String name, String key) {
        CompletableFuture<Void> done = new CompletableFuture<>();
        send(new ProducerRecord<>(kafka.topic(name), key, null), "tombstone", done);
        return done;
    }

    public long published() {
        return published.get();
    }

    public long received() {
        return received.get();
    }

    public long failedPublishes() {
        return failedPublishes.get();
    }

    @Override
    public void close() {
        closed = true;
        KafkaConsumer<String, byte[]> c = consumer;
        if (c != null) {
            c.wakeup();
        }
        Thread t = reader;
        if (t != null) {
            try {
                t.join(10_000);
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
            }
        }
        sender.shutdown(); // what was published before is still handed to the producer, which flushes it on close
        try {
            if (!sender.awaitTermination(5, TimeUnit.SECONDS)) {
                sender.shutdownNow();
            }
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            sender.shutdownNow();
        }
        producer.close(Duration.ofSeconds(5));
    }
}
