package dev.bulwark.server.monitor;

import com.fasterxml.jackson.core.JsonProcessingException;
import com.fasterxml.jackson.core.type.TypeReference;
import com.fasterxml.jackson.databind.ObjectMapper;
import dev.bulwark.server.store.Database;
import java.util.List;
import java.util.Map;

/** Alerts in the database ({@code security_alerts}), for the REST API; every statement on one alert names its tenant. */
public final class AlertStore {
    private static final ObjectMapper JSON = new ObjectMapper();
    private final Database db;

    public AlertStore(Database db) {
        this.db = db;
    }

    public void save(Alert a, long nowMs, boolean update) {
        String evidence;
        try {
            evidence = JSON.writeValueAsString(a.evidence());
        } catch (JsonProcessingException e) {
            evidence = "{}";
        }
        if (evidence.length() > 20_000) {
            evidence = "{\"truncated\":true}";
        }
        String ev = evidence;
        db.tx(h -> {
            if (update) {
                h.createUpdate("UPDATE security_alerts SET evidence = :ev, updated_ms = :now WHERE "
                                + (a.tenantId() == null ? "tenant_id IS NULL" : "tenant_id = :tenant") + " AND id = :id")
                        .bind("ev", ev).bind("now", nowMs).bind("tenant", a.tenantId()).bind("id", a.id()).execute();
            } else {
                h.createUpdate("INSERT INTO security_alerts (id, time_ms, updated_ms, tenant_id, label, severity, subject, evidence, action) "
                                + "VALUES (:id, :t, :t, :tenant, :label, :sev, :subject, :ev, :action)")
                        .bind("id", a.id()).bind("t", a.timeMs()).bind("tenant", a.tenantId()).bind("label", a.label())
                        .bind("sev", a.severity()).bind("subject", clip(a.subject(), 300)).bind("ev", ev).bind("action", clip(a.action(), 1000))
                        .execute();
            }
            return null;
        });
    }

    /** The tenant's alerts (null tenant: those attributed to no tenant), newest first. */
    public List<Map<String, Object>> page(String tenantId, String label, long beforeMs, int limit) {
        return db.read(h -> h.createQuery("SELECT * FROM security_alerts WHERE "
                        + (tenantId == null ? "tenant_id IS NULL" : "tenant_id = :tenant")
                        + (label == null ? "" : " AND label = :label") + " AND time_ms < :before ORDER BY time_ms DESC, id DESC LIMIT :limit")
                .bind("tenant", tenantId).bind("label", label).bind("before", beforeMs).bind("limit", limit)
                .map((rs, ctx) -> {
                    Map<String, Object> m = new java.util.LinkedHashMap<>();
                    m.put("id", rs.getString("id"));
                    m.put("time", java.time.Instant.ofEpochMilli(rs.getLong("time_ms")).toString());
                    m.put("updated", java.time.Instant.ofEpochMilli(rs.getLong("updated_ms")).toString());
                    m.put("tenant", rs.getString("tenant_id"));
                    m.put("label", rs.getString("label"));
                    m.put("severity", rs.getString("severity"));
                    m.put("subject", rs.getString("subject"));
                    try {
                        m.put("evidence", JSON.readValue(rs.getString("evidence"), new TypeReference<Map<String, Object>>() { }));
                    } catch (JsonProcessingException e) {
                        m.put("evidence", Map.of());
                    }
                    m.put("recommendedAction", rs.getString("action"));
                    return m;
                }).list());
    }

    /** Deletes the alerts not updated since {@code cutoffMs} (every tenant's: the retention); returns how many. */
    public int deleteNotUpdatedSince(long cutoffMs) {
        return db.tx(h -> h.createUpdate("DELETE FROM security_alerts WHERE updated_ms < :cutoff").bind("cutoff", cutoffMs).execute());
    }

    private static String clip(String s, int max) {
        return s == null || s.length() <= max ? s : s.substring(0, max);
    }
}
