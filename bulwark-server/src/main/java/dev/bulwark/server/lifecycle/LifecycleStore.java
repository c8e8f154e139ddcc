package dev.bulwark.server.lifecycle;

import dev.bulwark.protocol.TenantId;
import java.util.List;
import java.util.Optional;
import org.jdbi.v3.core.Handle;
import org.jdbi.v3.core.mapper.RowMapper;

/** The {@code tenant_settings} (retention) and {@code exports} tables. Every statement is keyed by tenant. */
public final class LifecycleStore {

    /** One export of an owner's data and its progress. */
    public record Export(String id, TenantId tenant, String ownerId, ExportState state, long rowsTotal, long rowsDone, long createdMs,
                         Long finishedMs) {
    }

    private static final RowMapper<Export> EXPORT = (rs, ctx) -> {
        long f = rs.getLong("finished_ms");
        Long finished = rs.wasNull() ? null : f;
        return new Export(rs.getString("id"), TenantId.of(rs.getString("tenant_id")), rs.getString("owner_id"),
                ExportState.fromWire(rs.getString("state")), rs.getLong("rows_total"), rs.getLong("rows_done"), rs.getLong("created_ms"), finished);
    };

    public Optional<Integer> retentionDays(Handle h, TenantId tenant) {
        return h.createQuery("SELECT retention_days FROM tenant_settings WHERE tenant_id = :t").bind("t", tenant.value())
                .mapTo(Integer.class).findOne();
    }

    public void setRetentionDays(Handle h, TenantId tenant, int days, long nowMs) {
        if (h.createUpdate("UPDATE tenant_settings SET retention_days = :d, updated_ms = :now WHERE tenant_id = :t")
                .bind("d", days).bind("now", nowMs).bind("t", tenant.value()).execute() == 0) {
            h.createUpdate("INSERT INTO tenant_settings (tenant_id, retention_days, updated_ms) VALUES (:t, :d, :now)")
                    .bind("t", tenant.value()).bind("d", days).bind("now", nowMs).execute();
        }
    }

    /** A new export, {@link ExportState#RUNNING} with no rows yet. */
    public void insertExport(Handle h, TenantId tenant, String owner, String id, long nowMs) {
        h.createUpdate("INSERT INTO exports (id, tenant_id, owner_id, state, rows_total, rows_done, created_ms) "
                        + "VALUES (:id, :t, :o, :state, 0, 0, :now)")
                .bind("id", id).bind("t", tenant.value()).bind("o", owner).bind("state", ExportState.RUNNING.wireName()).bind("now", nowMs)
                .execute();
    }

    public Optional<Export> export(Handle h, TenantId tenant, String owner, String id) {
        return h.createQuery("SELECT * FROM exports WHERE tenant_id = :t AND owner_id = :o AND id = :id")
                .bind("t", tenant.value()).bind("o", owner).bind("id", id).map(EXPORT).findOne();
    }

    public List<String> exportIds(Handle h, TenantId tenant, String owner) {
        return h.createQuery("SELECT id FROM exports WHERE tenant_id = :t AND owner_id = :o")
                .bind("t", tenant.value()).bind("o", owner).mapTo(String.class).list();
    }

    public int deleteExports(Handle h, TenantId tenant, String owner) {
        return h.createUpdate("DELETE FROM exports WHERE tenant_id = :t AND owner_id = :o").bind("t", tenant.value()).bind("o", owner).execute();
    }

    public void setRowsTotal(Handle h, TenantId tenant, String id, long rows) {
        h.createUpdate("UPDATE exports SET rows_total = :n WHERE tenant_id = :t AND id = :id")
                .bind("n", rows).bind("t", tenant.value()).bind("id", id).execute();
    }

    public void setRowsDone(Handle h, TenantId tenant, String id, long rows) {
        h.createUpdate("UPDATE exports SET rows_done = :d WHERE tenant_id = :t AND id = :id")
                .bind("d", rows).bind("t", tenant.value()).bind("id", id).execute();
    }

    /** running → done with its row count; false when the export is gone (its owner was deleted meanwhile). */
    public boolean finish(Handle h, TenantId tenant, String id, long rowsDone, long nowMs) {
        return h.createUpdate("UPDATE exports SET state = :done, rows_done = :d, finished_ms = :now WHERE tenant_id = :t AND id = :id")
                .bind("done", ExportState.DONE.wireName()).bind("d", rowsDone).bind("now", nowMs).bind("t", tenant.value()).bind("id", id)
                .execute() == 1;
    }

    /** → failed (the export's file is gone or never was). */
    public void fail(Handle h, TenantId tenant, String id, long nowMs) {
        h.createUpdate("UPDATE exports SET state = :failed, finished_ms = :now WHERE tenant_id = :t AND id = :id")
                .bind("failed", ExportState.FAILED.wireName()).bind("now", nowMs).bind("t", tenant.value()).bind("id", id).execute();
    }

    /** done → failed, keeping when it finished: a finished export whose file was deleted; false when it is not done. */
    public boolean failDone(Handle h, TenantId tenant, String id) {
        return h.createUpdate("UPDATE exports SET state = :failed WHERE tenant_id = :t AND id = :id AND state = :done")
                .bind("failed", ExportState.FAILED.wireName()).bind("done", ExportState.DONE.wireName()).bind("t", tenant.value())
                .bind("id", id).execute() == 1;
    }
}
