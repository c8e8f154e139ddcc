package dev.bulwark.server.monitor;

import dev.bulwark.server.core.Views;
import dev.bulwark.server.store.Database;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import org.jdbi.v3.core.statement.PreparedBatch;

/**
 * Security events in the database ({@code security_events}). Reads name the tenant (or, for the platform,
 * the events attributed to no tenant); the retention deletes by age over all tenants, a platform duty.
 */
public final class SecurityEventStore {
    private final Database db;

    public SecurityEventStore(Database db) {
        this.db = db;
    }

    /** Stores a batch of events in one transaction. */
    public void insert(List<SecurityEvent> batch) {
        db.tx(h -> {
            PreparedBatch pb = h.prepareBatch("INSERT INTO security_events (time_ms, tenant_id, type, reason, identity, source_address, "
                    + "source_port, channel, detail) VALUES (:time, :tenant, :type, :reason, :identity, :addr, :port, :channel, :detail)");
            for (SecurityEvent e : batch) {
                pb.bind("time", e.timeMs()).bind("tenant", e.tenantId()).bind("type", e.type())
                        .bind("reason", clip(e.reason(), 400)).bind("identity", clip(e.identity(), 200))
                        .bind("addr", e.sourceAddress()).bind("port", e.sourcePort()).bind("channel", e.channel())
                        .bind("detail", clip(e.detail(), 1000)).add();
            }
            return pb.execute();
        });
    }

    /**
     * The tenant's events (null tenant: those attributed to no tenant) with an id below {@code before}, of one
     * type when {@code type} is given, newest first, as the API shows them.
     */
    public List<Map<String, Object>> page(String tenant, long before, String type, int limit) {
        return db.read(h -> h.createQuery("SELECT * FROM security_events WHERE "
                        + (tenant == null ? "tenant_id IS NULL" : "tenant_id = :t") + " AND id < :before"
                        + (type == null ? "" : " AND type = :type") + " ORDER BY id DESC LIMIT :limit")
                .bind("t", tenant).bind("before", before).bind("type", type).bind("limit", limit)
                .map((rs, ctx) -> {
                    Map<String, Object> m = new LinkedHashMap<>();
                    m.put("id", rs.getLong("id"));
                    m.put("time", Views.time(rs.getLong("time_ms")));
                    m.put("type", rs.getString("type"));
                    m.put("reason", rs.getString("reason"));
                    m.put("identity", rs.getString("identity"));
                    m.put("sourceAddress", rs.getString("source_address"));
                    m.put("sourcePort", rs.getInt("source_port"));
                    m.put("channel", rs.getString("channel"));
                    m.put("detail", rs.getString("detail"));
                    return m;
                }).list());
    }

    /** Deletes the events recorded before {@code cutoffMs} (every tenant's: the retention); returns how many. */
    public int deleteOlderThan(long cutoffMs) {
        return db.tx(h -> h.createUpdate("DELETE FROM security_events WHERE time_ms < :cutoff").bind("cutoff", cutoffMs).execute());
    }

    static String clip(String s, int max) {
        return s == null || s.length() <= max ? s : s.substring(0, max);
    }
}
