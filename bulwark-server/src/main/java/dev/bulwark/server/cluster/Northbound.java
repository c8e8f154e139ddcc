package dev.bulwark.server.cluster;

import dev.bulwark.server.monitor.Metrics;
import dev.bulwark.server.ownership.Ownership;
import dev.bulwark.server.store.Database;
import dev.bulwark.server.telemetry.DatabaseLog;
import dev.bulwark.server.telemetry.GroupCommitWriter;
import dev.bulwark.server.telemetry.MessageLog;
import dev.bulwark.server.telemetry.StoredMessage;
import dev.bulwark.server.telemetry.TelemetryStore;
import java.time.Duration;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.concurrent.LinkedBlockingQueue;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicLong;
import org.apache.kafka.clients.producer.KafkaProducer;
import org.apache.kafka.clients.producer.ProducerRecord;
import org.apache.kafka.common.errors.RecordTooLargeException;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Data out: every device message this node commits is published, after its commit, to its tenant's topic
 * {@code <prefix>.data.<tenant>} (created when the tenant's first record goes out, see {@link DataTopics}), keyed by device id, as a {@link NorthboundRecord}. At least once, in order
 * per device:
 * <ul>
 *   <li>the group-commit writer hands each committed batch over ({@link #committed}, never blocking it); one
 *       publisher thread sends its records through an idempotent producer ({@code acks=all}, a few ms of linger);</li>
 *   <li>in the transaction that appends a log row, the row is noted in the node's outbox ({@link #outbox}); it
 *       leaves the outbox once Kafka confirmed every record of it and of the rows before it;</li>
 *   <li>when the node starts, when Kafka failed a record, or when the hand-over queue overflowed, the publisher sends
 *       again everything the outbox holds, in commit order, reading the messages from the log or the segments: a
 *       message acknowledged but not yet in Kafka when the node died reaches its topic when the node is back.</li>
 * </ul>
 * A record may thus appear twice (same {@code sequence}); a record sent again may follow newer records of its device
 * that another node published meanwhile. Messages deleted before they are sent again (owner deletion, retention)
 * are not sent: their period is gone or their key destroyed.
 *
 * <p>On the stream, payloads are in clear (they are sealed per ownership period at rest): the tenant's topic, its
 * Kafka ACLs and TLS to Kafka protect them, and the topic's retention bounds how long a record outlives a resale or
 * an owner's deletion.
 */
public final class Northbound implements GroupCommitWriter.AfterCommit, AutoCloseable {
    private static final Logger LOG = LoggerFactory.getLogger(Northbound.class);
    private static final int LINGER_MS = 5;
    /** The hand-over queue holds at most this many payload bytes; past it batches are dropped and sent from the outbox. */
    private static final long QUEUE_BYTES = 64L << 20;
    private static final int REPLAY_ROWS = 16;
    private static final long CONFIRM_EVERY_MS = 200;
    private static final long SWEEP_MS = 10_000;
    private static final long CLOSE_MS = 3_000;
    private static final int PERIOD_CACHE = 100_000;
    /**
     * One request in flight per broker: a retried batch can never be overtaken by a later one of its partition (with
     * several in flight, a first batch that failed retriably while later ones succeeded is retried into an endless
     * out-of-order-sequence loop until the delivery timeout, KAFKA-14359); batches are larger to make up for it.
     */
    private static final Map<String, Object> PRODUCER = Map.of(
            org.apache.kafka.clients.producer.ProducerConfig.MAX_IN_FLIGHT_REQUESTS_PER_CONNECTION, 1,
            org.apache.kafka.clients.producer.ProducerConfig.BATCH_SIZE_CONFIG, 256 * 1024);

    private record Item(MessageLog.Batch batch, List<byte[]> plaintext, long bytes, long committedNanos, long committedMs) {
        long lastRow() {
            return batch.refs()[batch.refs().length - 1];
        }
    }

    private final Kafka kafka;
    private final String node;
    private final Database db;
    private final TelemetryStore telemetry;
    private final Ownership ownership;
    private final NorthboundStore store = new NorthboundStore();
    private final LinkedBlockingQueue<Item> queue = new LinkedBlockingQueue<>();
    private final AtomicLong queuedBytes = new AtomicLong();
    private final Confirmations confirmations = new Confirmations();
    private final DataTopics topics;
    private final Map<String, String> periods = new LinkedHashMap<>(1024, 0.75f, true) {
        @Override
        protected boolean removeEldestEntry(Map.Entry<String, String> eldest) {
            return size() > PERIOD_CACHE;
        }
    };
    private final AtomicLong published = new AtomicLong();
    private final AtomicLong republished = new AtomicLong();
    private final AtomicLong skipped = new AtomicLong();
    private final AtomicLong refused = new AtomicLong();
    private final AtomicLong failures = new AtomicLong();
    private final AtomicLong overflows = new AtomicLong();
    private final Thread thread;
    private volatile boolean overflowed;
    private volatile boolean closing;
    private volatile long closeBy;
    private KafkaProducer<String, byte[]> producer;
    private long replayedUpTo;
    private long persisted;
    private long persistedAtMs;
    private long sweptAtMs = System.currentTimeMillis();

    /** What the node's {@link DatabaseLog} notes in the append's transaction: the rows this node wrote. */
    public static DatabaseLog.Outbox outbox(ClusterNode cluster) {
        NorthboundStore s = new NorthboundStore();
        String node = cluster.nodeId();
        return (h, rows) -> s.appended(h, node, rows);
    }

    /** Starts the publisher: it first sends what this node's outbox holds from its previous run. */
    public Northbound(ClusterNode cluster, TelemetryStore telemetry, Ownership ownership, Metrics metrics) {
        this.kafka = cluster.kafka();
        this.node = cluster.nodeId();
        this.db = cluster.db();
        this.telemetry = telemetry;
        this.ownership = ownership;
        this.topics = new DataTopics(kafka);
        metrics.counter("bulwark_northbound_records_published", "Committed device messages published to their tenant's topic", published::get);
        metrics.counter("bulwark_northbound_records_republished", "Records sent again from the outbox (at start, after a Kafka failure "
                + "or an overflow): a consumer may see them twice", republished::get);
        metrics.counter("bulwark_northbound_records_skipped_deleted", "Records not sent again because their data was deleted meanwhile",
                skipped::get);
        metrics.counter("bulwark_northbound_records_refused", "Records Kafka refused for good (larger than the producer's limit)", refused::get);
        metrics.counter("bulwark_northbound_failures", "Kafka failures of the publisher (each followed by a republish)", failures::get);
        metrics.counter("bulwark_northbound_overflows", "Committed batches not queued for the publisher (sent later from the outbox)",
                overflows::get);
        metrics.gauge("bulwark_northbound_backlog_rows", "Committed log rows waiting to be published or confirmed",
                () -> queue.size() + confirmations.inFlight());
        metrics.gauge("bulwark_northbound_lag_ms", "Commit to Kafka confirmation of the last confirmed log row, ms", confirmations::lastLagMs);
        this.thread = new Thread(this::run, "bulwark-northbound");
        thread.setDaemon(true);
        thread.start();
    }

    /** On the writer thread: queues the batch, or drops it (it is in the outbox) when the queue is full. */
    @Override
    public void committed(MessageLog.Batch batch, List<byte[]> plaintext) {
        if (closing) {
            return; // in the outbox: sent at the next start
        }
        long bytes = 0;
        for (byte[] p : plaintext) {
            bytes += p.length + 128L;
        }
        if (queuedBytes.addAndGet(bytes) > QUEUE_BYTES) {
            queuedBytes.addAndGet(-bytes);
            overflows.incrementAndGet();
            overflowed = true;
            return;
        }
        queue.add(new Item(batch, plaintext, bytes, System.nanoTime(), System.currentTimeMillis()));
    }

    private void run() {
        boolean replay = true;
        long backoffMs = 0;
        long confirmedAtFailure = -1;
        while (!(closing && (queue.isEmpty() || System.currentTimeMillis() > closeBy))) {
            try {
                Exception failed = confirmations.failure();
                if (failed != null && !replay) {
                    throw new IllegalStateException("Kafka did not take a record: " + failed);
                }
                if (replay || overflowed) {
                    replay();
                    replay = false;
                }
                if (confirmations.watermark() > confirmedAtFailure) {
                    backoffMs = 0; // Kafka confirms again
                }
                Item item = queue.poll(100, TimeUnit.MILLISECONDS);
                if (item != null) {
                    queuedBytes.addAndGet(-item.bytes());
                    if (overflowed || confirmations.failed()) {
                        replay = true; // committed, so in the outbox: the replay sends it, in order
                    } else if (item.lastRow() > replayedUpTo) {
                        publish(item);
                    }
                }
                persistConfirmed(false);
                replay |= strayRows();
            } catch (InterruptedException | org.apache.kafka.common.errors.InterruptException e) {
                break;
            } catch (RuntimeException e) {
                failures.incrementAndGet();
                replay = true;
                confirmedAtFailure = confirmations.watermark();
                backoffMs = Math.min(30_000, Math.max(500, backoffMs * 2));
                LOG.warn("northbound publishing failed, sending from the outbox again in {} ms: {}", backoffMs, e.toString());
                if (!pause(backoffMs)) {
                    break;
                }
            }
        }
        shutDown();
    }

    /**
     * Settles what is in flight, then sends again, in commit order, the messages of every log row in the outbox after
     * the confirmed watermark; the live batches those rows cover are skipped afterwards.
     */
    private void replay() {
        overflowed = false;
        if (producer != null) {
            producer.flush();
            if (confirmations.failed()) {
                producer.close(Duration.ZERO); // a fresh producer after a failure: nothing of the old one is retried behind our back
                producer = null;
            }
        }
        long after = confirmations.reset();
        persistConfirmed(true);
        if (producer == null) {
            producer = kafka.producer("northbound", LINGER_MS, PRODUCER);
        }
        long sent = 0;
        while (!closing) {
            long from = after;
            List<Long> rows = db.read(h -> store.pending(h, node, from, REPLAY_ROWS));
            if (rows.isEmpty()) {
                break;
            }
            List<StoredMessage> messages = db.read(h -> telemetry.written(h, rows));
            Map<Long, List<NorthboundRecord>> byRow = new LinkedHashMap<>();
            rows.forEach(r -> byRow.put(r, new ArrayList<>()));
            Map<String, Optional<String>> fresh = new HashMap<>();
            for (StoredMessage m : messages) {
                NorthboundRecord r = record(m, telemetry.open(m).orElse(null), fresh);
                if (r != null) {
                    byRow.get(m.seq() >>> 16).add(r);
                } else {
                    skipped.incrementAndGet();
                }
            }
            long now = System.nanoTime();
            for (var e : byRow.entrySet()) {
                int n = send(confirmations.add(e.getKey(), e.getValue().size(), now), e.getValue(), System.currentTimeMillis());
                sent += n;
                republished.addAndGet(n);
            }
            if (confirmations.failed()) {
                break; // nothing after a failed record goes out before it: the next replay starts from it
            }
            after = rows.get(rows.size() - 1);
        }
        replayedUpTo = Math.max(replayedUpTo, after);
        if (sent > 0) {
            LOG.info("northbound: sent {} committed messages again from the outbox of node {}", sent, node);
        }
    }

    private void publish(Item item) {
        Map<Long, List<NorthboundRecord>> byRow = new LinkedHashMap<>();
        for (long r : item.batch().refs()) {
            byRow.put(r, new ArrayList<>());
        }
        List<StoredMessage> ms = item.batch().messages();
        for (int i = 0; i < ms.size(); i++) {
            NorthboundRecord r = record(ms.get(i), item.plaintext().get(i), null);
            if (r != null) {
                byRow.get(ms.get(i).seq() >>> 16).add(r);
            }
        }
        for (var e : byRow.entrySet()) {
            send(confirmations.add(e.getKey(), e.getValue().size(), item.committedNanos()), e.getValue(), item.committedMs());
        }
    }

    /**
     * The record of {@code m}, or null when its data is gone: its key destroyed ({@code plaintext} null) or its period
     * deleted with its owner. {@code fresh} (a replay) looks periods up in the database, bypassing the cache.
     */
    private NorthboundRecord record(StoredMessage m, byte[] plaintext, Map<String, Optional<String>> fresh) {
        if (plaintext == null) {
            return null;
        }
        String period = null;
        if (m.keyId() != null) {
            Optional<String> p = fresh != null ? fresh.computeIfAbsent(m.keyId(), k -> lookup(m)) : cachedPeriod(m);
            if (p.isEmpty()) {
                return null;
            }
            period = p.get();
        }
        return new NorthboundRecord(m.tenantId(), m.deviceId(), m.kind(), m.receivedMs(), m.seq(), period, plaintext);
    }

    private Optional<String> cachedPeriod(StoredMessage m) {
        String id = periods.get(m.keyId());
        if (id != null) {
            return Optional.of(id);
        }
        Ownership.Period open = ownership.cached(m.tenantId(), m.deviceId());
        Optional<String> p = open != null && m.keyId().equals(open.keyId()) ? Optional.of(open.id()) : lookup(m);
        p.ifPresent(v -> periods.put(m.keyId(), v));
        return p;
    }

    private Optional<String> lookup(StoredMessage m) {
        return db.read(h -> store.period(h, m.tenantId(), m.deviceId(), m.keyId()));
    }

    /**
     * Sends {@code records} with Kafka timestamp {@code committedMs} (when they were committed, or sent again); stops at
     * a failure (nothing may overtake a failed record). Returns how many were handed to the producer.
     */
    private int send(Confirmations.Row row, List<NorthboundRecord> records, long committedMs) {
        int sent = 0;
        for (NorthboundRecord r : records) {
            if (confirmations.failed()) {
                return sent; // sent again, in order, by the replay that follows
            }
            sent++;
            String topic = topics.of(r.tenant());
            producer.send(new ProducerRecord<>(topic, null, committedMs, r.device(), r.json()), (md, error) -> {
                if (error instanceof RecordTooLargeException) {
                    refused.incrementAndGet(); // it never fits: published as far as it can be, and said so
                    LOG.error("northbound: message {} of {}/{} is larger than the Kafka producer accepts; not published", r.sequence(),
                            r.tenant(), r.device());
                    confirmations.done(row, null);
                    return;
                }
                if (error == null) {
                    published.incrementAndGet();
                }
                confirmations.done(row, error);
            });
        }
        return sent;
    }

    /**
     * Every {@value #SWEEP_MS} ms while nothing is queued or in flight: whether the outbox holds rows of this node that
     * were never handed over (a commit that succeeded although the writer saw it fail, e.g. a connection lost on
     * COMMIT); if so they are sent from the outbox.
     */
    private boolean strayRows() {
        long now = System.currentTimeMillis();
        if (now - sweptAtMs < SWEEP_MS || !queue.isEmpty() || confirmations.inFlight() > 0) {
            return false;
        }
        sweptAtMs = now;
        long w = confirmations.watermark();
        return !db.read(h -> store.pending(h, node, Math.max(w, replayedUpTo), 1)).isEmpty();
    }

    /** Drops from the outbox the rows Kafka confirmed (at most every {@value #CONFIRM_EVERY_MS} ms unless {@code now}). */
    private void persistConfirmed(boolean now) {
        long w = confirmations.watermark();
        long t = System.currentTimeMillis();
        if (w > persisted && (now || t - persistedAtMs >= CONFIRM_EVERY_MS)) {
            db.tx(h -> store.confirmed(h, node, w));
            persisted = w;
            persistedAtMs = t;
        }
    }

    private boolean pause(long ms) {
        long until = System.currentTimeMillis() + ms;
        try {
            while (!closing && System.currentTimeMillis() < until) {
                TimeUnit.MILLISECONDS.sleep(Math.min(100, ms));
            }
            return true;
        } catch (InterruptedException e) {
            return false;
        }
    }

    private void shutDown() {
        Thread.interrupted(); // close() may have interrupted a blocked send: what Kafka confirms now still counts
        try {
            if (producer != null) {
                producer.close(Duration.ofMillis(Math.max(0, closeBy - System.currentTimeMillis())));
            }
            persistConfirmed(true);
        } catch (RuntimeException e) {
            LOG.warn("northbound: confirmations not recorded at close (those records are sent again at the next start): {}", e.toString());
        }
    }

    /** How many log rows of this node wait in the outbox (for tests and tools). */
    public long outboxRows() {
        return db.read(h -> store.backlog(h, node));
    }

    public long published() {
        return published.get();
    }

    /**
     * Stops the publisher (call it after the writer stopped): what is queued is sent, and what Kafka confirms within
     * {@value #CLOSE_MS} ms leaves the outbox; everything else stays there for the next start.
     */
    @Override
    public void close() {
        closeBy = System.currentTimeMillis() + CLOSE_MS;
        closing = true;
        try {
            thread.join(CLOSE_MS + 6000); // a send may wait up to the producer's max.block.ms (5 s) for Kafka
            if (thread.isAlive()) {
                thread.interrupt();
                thread.join(5000);
            }
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        }
    }
}
