package dev.bulwark.bench;

import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.ArrayList;
import java.util.HexFormat;
import java.util.List;
import java.util.Map;
import java.util.concurrent.ThreadLocalRandom;
import java.util.concurrent.atomic.AtomicLong;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import org.apache.kafka.clients.consumer.ConsumerConfig;
import org.apache.kafka.clients.consumer.ConsumerRecord;
import org.apache.kafka.clients.consumer.KafkaConsumer;
import org.apache.kafka.common.serialization.ByteArrayDeserializer;

/**
 * Northbound lag as a tenant's application sees it: a Kafka consumer of the tenant's data topic, in the load
 * generator's JVM, notes when each record arrives; the load notes when each PUBACK arrives ({@link #acks()}).
 * Records of one device are in the order of its messages, so a device's n-th record is its n-th acknowledged
 * message: the lag is the record's arrival minus that PUBACK (negative when the record was out before the
 * PUBACK reached the device). The device is read from the record's key (else its value), its id
 * {@code bench-NNNNN} being the index of the device.
 */
final class NorthboundLag implements AutoCloseable {
    private static final Pattern DEVICE = Pattern.compile("bench-(\\d{5})");

    /** What the consumer saw: lag of each message acknowledged in the interval, records in all, unmatched. */
    record Result(Samples lag, long records, long unmatched) {
    }

    private final TimeLog acks;
    private final TimeLog arrivals;
    private final KafkaConsumer<byte[], byte[]> consumer;
    private final Thread thread;
    private final AtomicLong records = new AtomicLong();
    private final AtomicLong unmatched = new AtomicLong();
    private volatile boolean running = true;

    /** Subscribes to {@code topic} (from its beginning, once it exists) and starts consuming. */
    NorthboundLag(String bootstrap, String topic, int devices) {
        acks = new TimeLog(devices);
        arrivals = new TimeLog(devices);
        consumer = new KafkaConsumer<>(Map.of(
                ConsumerConfig.BOOTSTRAP_SERVERS_CONFIG, bootstrap,
                ConsumerConfig.GROUP_ID_CONFIG, "bench-lag-" + HexFormat.of().toHexDigits(ThreadLocalRandom.current().nextInt()),
                ConsumerConfig.AUTO_OFFSET_RESET_CONFIG, "earliest",
                ConsumerConfig.ENABLE_AUTO_COMMIT_CONFIG, false,
                // the topic may be created only with the first record: look for it every second
                ConsumerConfig.METADATA_MAX_AGE_CONFIG, 1000),
                new ByteArrayDeserializer(), new ByteArrayDeserializer());
        consumer.subscribe(Pattern.compile(Pattern.quote(topic)));
        thread = new Thread(this::consume, "bench-northbound-consumer");
        thread.setDaemon(true);
        thread.start();
    }

    /** Where the load records each device's PUBACKs. */
    TimeLog acks() {
        return acks;
    }

    private void consume() {
        try {
            while (running) {
                var batch = consumer.poll(Duration.ofMillis(100));
                long now = System.nanoTime();
                for (ConsumerRecord<byte[], byte[]> r : batch) {
                    records.incrementAndGet();
                    int d = device(r.key());
                    d = d >= 0 ? d : device(r.value());
                    if (d >= 0 && d < arrivals.devices()) {
                        arrivals.add(d, now);
                    } else {
                        unmatched.incrementAndGet();
                    }
                }
            }
        } catch (org.apache.kafka.common.errors.WakeupException e) {
            // closing
        } finally {
            consumer.close(Duration.ofSeconds(5));
        }
    }

    private static int device(byte[] b) {
        if (b == null) {
            return -1;
        }
        Matcher m = DEVICE.matcher(new String(b, StandardCharsets.UTF_8));
        return m.find() ? Integer.parseInt(m.group(1)) : -1;
    }

    /**
     * Waits until a record has arrived for every message acknowledged up to {@code to} (or until no record
     * came for {@code patience}), then gives the lag of the messages acknowledged in {@code [from, to]}.
     */
    Result finish(long from, long to, Duration patience) throws InterruptedException {
        long seen = -1;
        long idleSince = System.nanoTime();
        while (!caughtUp(to) && System.nanoTime() - idleSince < patience.toNanos()) {
            long now = records.get();
            if (now != seen) {
                seen = now;
                idleSince = System.nanoTime();
            }
            Thread.sleep(100);
        }
        List<Long> lags = new ArrayList<>();
        for (int d = 0; d < acks.devices(); d++) {
            long[] a = acks.get(d);
            long[] r = arrivals.get(d);
            for (int n = 0; n < Math.min(a.length, r.length); n++) {
                if (a[n] >= from && a[n] <= to) {
                    lags.add(r[n] - a[n]);
                }
            }
        }
        return new Result(Samples.of(lags.stream().mapToLong(Long::longValue).toArray()), records.get(), unmatched.get());
    }

    private boolean caughtUp(long to) {
        for (int d = 0; d < acks.devices(); d++) {
            long[] a = acks.get(d);
            int due = 0;
            while (due < a.length && a[due] <= to) {
                due++;
            }
            if (arrivals.size(d) < due) {
                return false;
            }
        }
        return true;
    }

    @Override
    public void close() throws InterruptedException {
        running = false;
        consumer.wakeup();
        thread.join(10_000);
    }
}
