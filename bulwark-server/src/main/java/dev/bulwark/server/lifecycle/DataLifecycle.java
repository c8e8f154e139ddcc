package dev.bulwark.server.lifecycle;

import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ObjectNode;
import dev.bulwark.protocol.TenantId;
import dev.bulwark.server.audit.AuditEntry;
import dev.bulwark.server.audit.AuditLog;
import dev.bulwark.server.config.DataDir;
import dev.bulwark.server.core.Clock;
import dev.bulwark.server.crypto.DataKeys;
import dev.bulwark.server.crypto.SealedFile;
import dev.bulwark.server.crypto.Secrets;
import dev.bulwark.server.identity.TenantStore;
import dev.bulwark.server.ownership.Ownership;
import dev.bulwark.server.store.Database;
import java.io.BufferedWriter;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Base64;
import java.util.List;
import java.util.Optional;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Retention and export. Retention deletes each tenant's device messages older than its retention period
 * (default 90 days) with one range delete per tenant, and audits what it removed. An export writes an
 * owner's data (profile, periods, every message of their periods) as JSON Lines, in the background, with
 * progress, into a {@link SealedFile}: encrypted at rest under a fresh data key of its own (wrapped by the
 * key-encryption key), opened only while it streams to its owner, and destroyed (key and file) with the export.
 */
public final class DataLifecycle implements AutoCloseable {
    private static final Logger LOG = LoggerFactory.getLogger(DataLifecycle.class);
    private static final ObjectMapper JSON = new ObjectMapper();
    public static final int DEFAULT_RETENTION_DAYS = 90;

    private final Database db;
    private final LifecycleStore store;
    private final TenantStore tenants;
    private final Clock clock;
    private final AuditLog audit;
    private final Ownership ownership;
    private final Path exportDir;
    private final dev.bulwark.server.telemetry.TelemetryStore telemetry;
    private final ExecutorService exports = Executors.newSingleThreadExecutor(r -> {
        Thread t = new Thread(r, "bulwark-exports");
        t.setDaemon(true);
        return t;
    });

    public DataLifecycle(Database db, LifecycleStore store, TenantStore tenants, Clock clock, AuditLog audit, Ownership ownership,
                         DataDir dataDir, dev.bulwark.server.telemetry.TelemetryStore telemetry) {
        this.db = db;
        this.store = store;
        this.tenants = tenants;
        this.telemetry = telemetry;
        this.clock = clock;
        this.audit = audit;
        this.ownership = ownership;
        this.exportDir = dataDir.dir("exports");
        removePlaintextExports();
    }

    /** Exports written in clear by an earlier version are deleted at start; their owners request them again. */
    private void removePlaintextExports() {
        List<Path> legacy;
        try (var files = Files.list(exportDir)) {
            legacy = files.filter(p -> p.getFileName().toString().endsWith(".jsonl")).toList();
        } catch (IOException e) {
            throw new UncheckedIOException("cannot list " + exportDir, e);
        }
        for (Path p : legacy) {
            String id = p.getFileName().toString().replace(".jsonl", "");
            try {
                Files.delete(p);
            } catch (IOException e) {
                LOG.error("plaintext export {} could not be deleted: {}", p.getFileName(), e.toString());
                continue;
            }
            db.tx(h -> { // the file name carries no tenant: the export is failed in whichever tenant holds it
                for (TenantId t : allTenants(h)) {
                    store.failDone(h, t, id);
                }
                return null;
            });
            LOG.info("export {} was stored in clear by an earlier version: deleted (its owner can request a new one)", id);
        }
    }

    private List<TenantId> allTenants(org.jdbi.v3.core.Handle h) {
        return tenants.list(h, "", Integer.MAX_VALUE).stream().map(t -> TenantId.of(t.id())).toList();
    }

    public int retentionDays(org.jdbi.v3.core.Handle h, TenantId tenant) {
        return store.retentionDays(h, tenant).orElse(DEFAULT_RETENTION_DAYS);
    }

    public void setRetentionDays(org.jdbi.v3.core.Handle h, TenantId tenant, int days) {
        store.setRetentionDays(h, tenant, days, clock.nowMs());
    }

    public dev.bulwark.server.telemetry.TelemetryStore telemetry() {
        return telemetry;
    }

    /**
     * Retries the key destructions that failed (e.g. a file system that refused); each one that now succeeds is
     * audited in its tenant's log ({@code owner.delete.keys}, success). Runs with the retention job.
     */
    public int retryFailedDestructions() {
        var done = ownership.keys().retryFailedDestructions();
        done.forEach((d, owner) -> {
            String[] f = owner.split(" ", 2);
            String tenant = f[0].isEmpty() ? null : f[0];
            try {
                db.tx(h -> audit.append(h, new AuditEntry(tenant, "system", "owner.delete.keys", f.length > 1 ? f[1] : "key:" + d.keyId(),
                        "local", AuditEntry.SUCCESS, "data key " + d.keyId() + " destroyed on retry")));
            } catch (RuntimeException e) {
                LOG.error("cannot audit the destruction of data key {} on retry: {}", d.keyId(), e.toString());
            }
            LOG.info("data key {} destroyed on retry", d.keyId());
        });
        return done.size();
    }

    /** Deletes what is older than each tenant's retention; returns the number of messages deleted. */
    public long enforceRetention() {
        retryFailedDestructions();
        long now = clock.nowMs();
        telemetry.flush();
        List<TenantId> all = db.read(this::allTenants);
        long total = 0;
        for (TenantId t : all) {
            long deleted = db.tx(h -> {
                long cutoff = now - retentionDays(h, t) * 86_400_000L;
                long n = telemetry.deleteOlderThan(h, t.value(), cutoff);
                if (n > 0) {
                    audit.append(h, new AuditEntry(t.value(), "system", "retention.purge", "device_messages", "local", AuditEntry.SUCCESS,
                            n + " messages received before " + java.time.Instant.ofEpochMilli(cutoff) + " deleted"));
                }
                return n;
            });
            total += deleted;
        }
        return total;
    }

    /** Starts an export of {@code owner}'s data; returns its id. */
    public String startExport(TenantId tenant, String owner) {
        String id = "ex-" + Secrets.randomHex(8);
        long now = clock.nowMs();
        db.tx(h -> {
            store.insertExport(h, tenant, owner, id, now);
            return null;
        });
        exports.execute(() -> runExport(id, tenant, owner));
        return id;
    }

    public Optional<LifecycleStore.Export> export(TenantId tenant, String owner, String id) {
        return db.read(h -> store.export(h, tenant, owner, id));
    }

    /**
     * Deletes an owner's exports (part of deleting the owner): each one's key is destroyed, its file and row
     * deleted. Returns the destructions that failed (their files stay sealed under a key still on disk).
     */
    public List<DataKeys.Destruction> deleteExports(TenantId tenant, String owner) {
        List<String> ids = db.read(h -> store.exportIds(h, tenant, owner));
        List<DataKeys.Destruction> failed = new java.util.ArrayList<>();
        for (String id : ids) {
            discard(id, tenant.value() + " owner:" + owner).filter(d -> !d.destroyed()).ifPresent(failed::add);
        }
        db.tx(h -> store.deleteExports(h, tenant, owner));
        return failed;
    }

    /** Destroys an export's key and deletes its file; the key's destruction, or empty when there was no file. */
    private Optional<DataKeys.Destruction> discard(String id, String belongsTo) {
        Path file = exportFile(id);
        Optional<DataKeys.Destruction> d = Optional.empty();
        try {
            if (Files.exists(file)) {
                d = Optional.of(ownership.keys().destroy(SealedFile.keyId(file), belongsTo));
            }
        } catch (IOException e) {
            LOG.error("export {}: its key could not be read from the file header: {}", id, e.toString());
        }
        try {
            Files.deleteIfExists(file);
        } catch (IOException e) {
            LOG.error("export file {} could not be deleted: {}", id, e.toString());
        }
        d.filter(x -> !x.destroyed()).ifPresent(x -> LOG.error("export {}: data key {} could not be destroyed: {}", id, x.keyId(), x.reason()));
        return d;
    }

    /** The path of an export's sealed file. */
    public Path exportFile(String id) {
        return exportDir.resolve(id + ".sealed");
    }

    /**
     * The plaintext JSON Lines of a finished export, opened chunk by chunk as it is read (never whole). Reading
     * fails with an {@link IOException} when the file was altered or its key destroyed.
     */
    public java.io.InputStream openExport(String id) throws IOException {
        return SealedFile.open(exportFile(id), ownership.keys(), exportContext(id));
    }

    private static byte[] exportContext(String id) {
        return ("export/" + id).getBytes(StandardCharsets.UTF_8);
    }

    private void runExport(String id, TenantId tenant, String owner) {
        Path file = exportFile(id);
        String keyId = null;
        try {
            keyId = ownership.keys().create();
            telemetry.flush();
            List<Ownership.Period> periods = db.read(h -> ownership.ofOwner(h, tenant, owner));
            long total = 0;
            for (Ownership.Period p : periods) {
                total += db.read(h -> telemetry.count(h, tenant.value(), p.device().value(), p.keyId()));
            }
            long rowsTotal = total;
            db.tx(h -> {
                store.setRowsTotal(h, tenant, id, rowsTotal);
                return null;
            });
            long done = 0;
            try (BufferedWriter w = new BufferedWriter(new java.io.OutputStreamWriter(
                    SealedFile.create(file, ownership.keys(), keyId, exportContext(id)), StandardCharsets.UTF_8), 16 * 1024)) {
                ObjectNode head = JSON.createObjectNode().put("type", "owner").put("owner", owner).put("tenant", tenant.value());
                var ps = head.putArray("periods");
                for (Ownership.Period p : periods) {
                    ps.addObject().put("device", p.device().value()).put("from", java.time.Instant.ofEpochMilli(p.startMs()).toString())
                            .put("to", p.endMs() == null ? null : java.time.Instant.ofEpochMilli(p.endMs()).toString());
                }
                w.write(head.toString());
                w.newLine();
                for (Ownership.Period p : periods) {
                    for (String kind : db.read(h -> telemetry.kinds(h, tenant.value(), p.device().value(), p.keyId()))) {
                        long lastSeq = 0;
                        while (true) {
                            var q = new dev.bulwark.server.telemetry.TelemetryStore.Query(tenant.value(), p.device().value(), kind, List.of(p.keyId()),
                                    0, Long.MAX_VALUE, lastSeq);
                            List<dev.bulwark.server.telemetry.StoredMessage> rows = db.read(h -> telemetry.page(h, q, 1000));
                            if (rows.isEmpty()) {
                                break;
                            }
                            for (var r : rows) {
                                byte[] payload = telemetry.open(r).orElse(new byte[0]);
                                ObjectNode line = JSON.createObjectNode().put("type", "message").put("device", p.device().value())
                                        .put("kind", r.kind())
                                        .put("receivedAt", java.time.Instant.ofEpochMilli(r.receivedMs()).toString())
                                        .put("payloadBase64", Base64.getEncoder().encodeToString(payload));
                                w.write(line.toString());
                                w.newLine();
                                lastSeq = r.seq();
                            }
                            done += rows.size();
                            long d = done;
                            db.tx(h -> {
                                store.setRowsDone(h, tenant, id, d);
                                return null;
                            });
                        }
                    }
                }
            }
            long d = done;
            boolean stillThere = db.tx(h -> store.finish(h, tenant, id, d, clock.nowMs()));
            if (!stillThere) {
                discard(id, tenant.value() + " owner:" + owner); // the owner was deleted while this ran: the export goes too
            }
        } catch (IOException | RuntimeException e) {
            LOG.error("export {} failed: {}", id, e.toString());
            if (Files.exists(file)) {
                discard(id, tenant.value() + " owner:" + owner);
            } else if (keyId != null) {
                ownership.keys().destroy(keyId, tenant.value() + " owner:" + owner);
            }
            db.tx(h -> {
                store.fail(h, tenant, id, clock.nowMs());
                return null;
            });
            if (e instanceof IOException io) {
                throw new UncheckedIOException(io);
            }
        }
    }

    @Override
    public void close() {
        exports.shutdownNow();
    }
}
