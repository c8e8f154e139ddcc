package dev.bulwark.server.bus;

import java.util.List;
import java.util.Map;
import java.util.concurrent.ArrayBlockingQueue;
import java.util.concurrent.BlockingQueue;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicLong;
import java.util.function.Consumer;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * The embedded bus: each subscription has a bounded queue and one thread, so a slow subscriber never
 * blocks a publisher (an event loop) and never delays the others. When a queue is full the event is
 * dropped for that subscriber and counted.
 */
public final class InProcessBus implements EventBus {
    private static final Logger LOG = LoggerFactory.getLogger(InProcessBus.class);

    private final int capacity;
    private final Map<String, List<Subscription>> topics = new ConcurrentHashMap<>();
    private final AtomicLong dropped = new AtomicLong();
    private volatile boolean running = true;

    public InProcessBus(int capacityPerSubscriber) {
        this.capacity = capacityPerSubscriber;
    }

    private final class Subscription implements Runnable {
        final String topic;
        final BlockingQueue<Object> queue = new ArrayBlockingQueue<>(capacity);
        final Consumer<Object> consumer;
        final Thread thread;

        Subscription(String topic, Consumer<Object> consumer) {
            this.topic = topic;
            this.consumer = consumer;
            this.thread = new Thread(this, "bulwark-bus-" + topic);
            this.thread.setDaemon(true);
        }

        @Override
        public void run() {
            while (running || !queue.isEmpty()) {
                Object e;
                try {
                    e = queue.poll(100, TimeUnit.MILLISECONDS);
                } catch (InterruptedException ie) {
                    return;
                }
                if (e == null) {
                    continue;
                }
                try {
                    consumer.accept(e);
                } catch (RuntimeException ex) {
                    LOG.error("subscriber of {} failed on an event: {}", topic, ex.toString());
                }
            }
        }
    }

    @Override
    public boolean publish(String topic, Object event) {
        boolean all = true;
        for (Subscription s : topics.getOrDefault(topic, List.of())) {
            if (!s.queue.offer(event)) {
                all = false;
                long n = dropped.incrementAndGet();
                if (Long.bitCount(n) == 1) {
                    LOG.warn("event bus: subscriber of {} is behind; {} events dropped so far", topic, n);
                }
            }
        }
        return all;
    }

    @Override
    public void subscribe(String topic, Consumer<Object> consumer) {
        Subscription s = new Subscription(topic, consumer);
        topics.computeIfAbsent(topic, t -> new CopyOnWriteArrayList<>()).add(s);
        s.thread.start();
    }

    @Override
    public long dropped() {
        return dropped.get();
    }

    @Override
    public void close() {
        running = false;
        for (List<Subscription> subs : topics.values()) {
            for (Subscription s : subs) {
                try {
                    s.thread.join(5_000);
                } catch (InterruptedException e) {
                    Thread.currentThread().interrupt();
                }
            }
        }
    }
}
