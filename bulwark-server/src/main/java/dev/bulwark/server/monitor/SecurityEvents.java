package dev.bulwark.server.monitor;

import com.fasterxml.jackson.databind.ObjectMapper;
import dev.bulwark.server.config.DataDir;
import dev.bulwark.server.store.Database;
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
import org.jdbi.v3.core.statement.PreparedBatch;
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
 */
public final class SecurityEvents implements AutoCloseable {
    private static final Logger LOG = LoggerFactory.getLogger(SecurityEvents.class);
    private static final int CAPACITY = 100_000;
    private static final int BATCH = 1_000;

    private final Database db;
    private final Path jsonl;
    private final ObjectMapper json = new ObjectMapper();
    private final BlockingQueue<SecurityEvent> queue = new ArrayBlockingQueue<>(CAPACITY);
    private final AtomicLong dropped = new AtomicLong();
    private final AtomicLong written = new AtomicLong();
    private final Thread writer;
    private volatile boolean running = true;

    private final dev.bulwark.server.bus.EventBus bus;
    private final Metrics metrics;
    private volatile ApiLogins logins = ApiLogins.NONE;

    public SecurityEvents(Database db, DataDir dataDir, dev.bulwark.server.bus.EventBus bus, Metrics metrics) {
        this.db = db;
        this.bus = bus;
        this.metrics = metrics;
        this.jsonl = dataDir.dir("log").resolve("security-events.jsonl");
        this.writer = new Thread(this::run, "bulwark-security-events");
        this.writer.setDaemon(true);
        this.writer.start();
    }

    public void record(SecurityEvent event) {
        metrics.refused(event.type());
        bus.publish(dev.bulwark.server.bus.EventBus.Topics.SECURITY_EVENTS, event);
        if (!queue.offer(event)) {
            long n = dropped.incrementAndGet();
            if (Long.bitCount(n) == 1) {
                LOG.warn("security event queue full: {} events not recorded so far", n);
            }
        }
    }

    /** Called by the {@link Monitor} of the node: API logins then feed the detector, the tarpit and the bans. */
    void attach(ApiLogins logins) {
        this.logins = logins;
    }

    /** The monitor's view of operator API logins (the API listener reports its refusals here). */
    public ApiLogins logins() {
        return logins;
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
        db.tx(h -> {
            PreparedBatch pb = h.prepareBatch("INSERT INTO security_events (time_ms, tenant_id, type, reason, identity, source_address, source_port, channel, detail) "
                    + "VALUES (:time, :tenant, :type, :reason, :identity, :addr, :port, :channel, :detail)");
            for (SecurityEvent e : batch) {
                pb.bind("time", e.timeMs()).bind("tenant", e.tenantId()).bind("type", e.type())
                        .bind("reason", clip(e.reason(), 400)).bind("identity", clip(e.identity(), 200))
                        .bind("addr", e.sourceAddress()).bind("port", e.sourcePort()).bind("channel", e.channel())
                        .bind("detail", clip(e.detail(), 1000)).add();
            }
            return pb.execute();
        });
        try {
            if (!Files.exists(jsonl)) {
                Files.createFile(jsonl, PosixFilePermissions.asFileAttribute(PosixFilePermissions.fromString("rw-------")));
            }
            try (OutputStream out = Files.newOutputStream(jsonl, StandardOpenOption.APPEND)) {
                for (SecurityEvent e : batch) {
                    out.write(json.writeValueAsBytes(toJson(e)));
                    out.write('\n');
                }
            }
        } catch (IOException e) {
            LOG.error("cannot append security events to {}: {}", jsonl.getFileName(), e.toString());
        }
        written.addAndGet(batch.size());
    }

    public static Map<String, Object> toJson(SecurityEvent e) {
        Map<String, Object> m = new LinkedHashMap<>();
        m.put("time", java.time.Instant.ofEpochMilli(e.timeMs()).toString());
        m.put("tenant", e.tenantId());
        m.put("type", e.type());
        m.put("reason", e.reason());
        m.put("identity", e.identity());
        m.put("sourceAddress", e.sourceAddress());
        m.put("sourcePort", e.sourcePort());
        m.put("channel", e.channel());
        m.put("detail", e.detail());
        return m;
    }

    private static String clip(String s, int max) {
        return s == null || s.length() <= max ? s : s.substring(0, max);
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
