package dev.bulwark.server.monitor;

import com.fasterxml.jackson.databind.ObjectMapper;
import dev.bulwark.server.bus.EventBus;
import dev.bulwark.server.config.DataDir;
import dev.bulwark.server.config.SecurityEventSettings;
import dev.bulwark.server.core.Clock;
import java.io.IOException;
import java.io.OutputStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.nio.file.attribute.PosixFilePermissions;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.ArrayBlockingQueue;
import java.util.concurrent.BlockingQueue;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicLong;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Records security events without blocking the caller: {@link #record} counts the event, hands it to the bus
 * (for the detector) and enqueues it; one writer thread
 * stores events in batches (one transaction per batch) and appends them to the JSON Lines file
 * {@code <data>/log/security-events.jsonl} (owner-only) for a SIEM.
 *
 * <p>The queue is bounded so that a flood of refusals cannot exhaust memory; events that do not fit are
 * counted in {@link #dropped()} and the count is logged, never silently lost.
 *
 * <p>Recording cannot fill the disk: the writer thread deletes events (and alerts not updated since) older
 * than the retention ({@link SecurityEventSettings#retention()}, 90 days by default) every purge interval, and
 * the JSON Lines file rotates when it would exceed {@link SecurityEventSettings#logMaxBytes()}:
 * {@code security-events.jsonl} becomes {@code .1}, {@code .1} becomes {@code .2} and so on, keeping
 * {@link SecurityEventSettings#logFiles()} rotated files (owner-only, like the current one).
 */
public final class SecurityEvents implements AutoCloseable {
    private static final Logger LOG = LoggerFactory.getLogger(SecurityEvents.class);
    private static final int CAPACITY = 100_000;
    private static final int BATCH = 1_000;

    private final SecurityEventStore store;
    private final AlertStore alerts;
    private final Path jsonl;
    private final ObjectMapper json = new ObjectMapper();
    private final BlockingQueue<SecurityEvent> queue = new ArrayBlockingQueue<>(CAPACITY);
    private final AtomicLong dropped = new AtomicLong();
    private final AtomicLong written = new AtomicLong();
    private final Thread writer;
    private volatile boolean running = true;

    private final EventBus bus;
    private final Metrics metrics;

    private final Clock clock;
    private final SecurityEventSettings settings;
    private final AtomicLong purged = new AtomicLong();
    private long lastPurgeNanos = System.nanoTime();

    /** Starts the writer thread; events recorded go to {@code store} and the JSON Lines file, and to the detector on {@code bus}. */
    public SecurityEvents(SecurityEventStore store, AlertStore alerts, DataDir dataDir, EventBus bus, Metrics metrics, Clock clock,
                          SecurityEventSettings settings) {
        this.store = store;
        this.alerts = alerts;
        this.bus = bus;
        this.metrics = metrics;
        this.clock = clock;
        this.settings = settings;
        this.jsonl = dataDir.nodeDir("log").resolve("security-events.jsonl");
        this.writer = new Thread(this::run, "bulwark-security-events");
        this.writer.setDaemon(true);
        this.writer.start();
    }

    public void record(SecurityEvent event) {
        metrics.refused(event.type());
        bus.publish(EventBus.Topics.SECURITY_EVENTS, event);
        if (!queue.offer(event)) {
            long n = dropped.incrementAndGet();
            if (Long.bitCount(n) == 1) {
                LOG.warn("security event queue full: {} events not recorded so far", n);
            }
        }
    }

    public long dropped() {
        return dropped.get();
    }

    public long written() {
        return written.get();
    }

    private void run() {
        List<SecurityEvent> batch = new ArrayList<>(BATCH);
        while (running || !queue.isEmpty()) {
            try {
                if (running && System.nanoTime() - lastPurgeNanos >= settings.purgeInterval().toNanos()) {
                    lastPurgeNanos = System.nanoTime();
                    enforceRetention();
                }
                SecurityEvent first = queue.poll(200, TimeUnit.MILLISECONDS);
                if (first == null) {
                    continue;
                }
                batch.add(first);
                queue.drainTo(batch, BATCH - 1);
                write(batch);
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
                running = false;
            } catch (RuntimeException e) {
                LOG.error("cannot store {} security events: {}", batch.size(), e.toString());
            } finally {
                batch.clear();
            }
        }
    }

    private void write(List<SecurityEvent> batch) {
        store.insert(batch);
        try {
            long size = Files.exists(jsonl) ? Files.size(jsonl) : 0;
            OutputStream out = open();
            try {
                for (SecurityEvent e : batch) {
                    byte[] line = json.writeValueAsBytes(toJson(e));
                    if (size > 0 && size + line.length + 1 > settings.logMaxBytes()) {
                        out.close();
                        rotate();
                        out = open();
                        size = 0;
                    }
                    out.write(line);
                    out.write('\n');
                    size += line.length + 1;
                }
            } finally {
                out.close();
            }
        } catch (IOException e) {
            LOG.error("cannot append security events to {}: {}", jsonl.getFileName(), e.toString());
        }
        written.addAndGet(batch.size());
    }

    private OutputStream open() throws IOException {
        if (!Files.exists(jsonl)) {
            Files.createFile(jsonl, PosixFilePermissions.asFileAttribute(PosixFilePermissions.fromString("rw-------")));
        }
        return new java.io.BufferedOutputStream(Files.newOutputStream(jsonl, StandardOpenOption.APPEND), 64 * 1024);
    }

    /** {@code security-events.jsonl} → {@code .1} → {@code .2} …; the oldest beyond {@code logFiles} is deleted. */
    private void rotate() throws IOException {
        Path dir = jsonl.getParent();
        String name = jsonl.getFileName().toString();
        Files.deleteIfExists(dir.resolve(name + "." + settings.logFiles()));
        for (int i = settings.logFiles() - 1; i >= 1; i--) {
            Path from = dir.resolve(name + "." + i);
            if (Files.exists(from)) {
                Files.move(from, dir.resolve(name + "." + (i + 1)), java.nio.file.StandardCopyOption.REPLACE_EXISTING);
            }
        }
        Files.move(jsonl, dir.resolve(name + ".1"), java.nio.file.StandardCopyOption.REPLACE_EXISTING);
    }

    /**
     * Deletes the security events older than the retention, and the alerts not updated since; returns the
     * number of events deleted. Runs on the writer thread every purge interval (never on an event loop).
     */
    public long enforceRetention() {
        long cutoff = clock.nowMs() - settings.retention().toMillis();
        try {
            int events = store.deleteOlderThan(cutoff);
            int oldAlerts = alerts.deleteNotUpdatedSince(cutoff);
            if (events > 0 || oldAlerts > 0) {
                LOG.info("security event retention: deleted {} events and {} alerts older than {} days", events, oldAlerts,
                        settings.retention().toDays());
            }
            purged.addAndGet(events);
            return events;
        } catch (RuntimeException e) {
            LOG.error("security event retention failed: {}", e.toString());
            return 0;
        }
    }

    /** Events deleted by the retention since start. */
    public long purged() {
        return purged.get();
    }

    public static Map<String, Object> toJson(SecurityEvent e) {
        Map<String, Object> m = new LinkedHashMap<>();
        m.put("time", java.time.Instant.ofEpochMilli(e.timeMs()).toString());
        m.put("tenant", e.tenantId());
        m.put("type", e.type());
        m.put("reason", clip(e.reason(), 400));
        m.put("identity", clip(e.identity(), 200));
        m.put("sourceAddress", e.sourceAddress());
        m.put("sourcePort", e.sourcePort());
        m.put("channel", e.channel());
        m.put("detail", clip(e.detail(), 1000));
        return m;
    }

    private static String clip(String s, int max) {
        return SecurityEventStore.clip(s, max);
    }

    /** Stops accepting, writes what is queued, and returns. */
    @Override
    public void close() {
        running = false;
        try {
            writer.join(10_000);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        }
    }

}
