package dev.bulwark.server.firmware;

import dev.bulwark.protocol.DeviceId;
import dev.bulwark.protocol.TenantId;
import dev.bulwark.server.device.DeviceStatus;
import java.util.Arrays;
import java.util.List;
import java.util.Set;
import java.util.stream.Collectors;
import org.jdbi.v3.core.Handle;
import org.jdbi.v3.core.mapper.RowMapper;

/**
 * The {@code rollouts} and {@code rollout_devices} tables, and the devices a rollout targets. Every statement
 * is keyed by tenant, updates by id included; states are stored by {@link RolloutState#wireName()} and
 * {@link InstallState#wireName()}.
 */
public final class RolloutStore {

    /** One device's install report in a rollout. */
    public record DeviceReport(String device, InstallState state, String reason) {
    }

    /** Installs of a rollout reported since some time: how many failed, how many finished (installed or failed). */
    public record Counts(long failed, long finished) {
    }

    private static final RowMapper<RolloutService.Rollout> ROLLOUT = (rs, ctx) -> new RolloutService.Rollout(rs.getString("id"),
            TenantId.of(rs.getString("tenant_id")), rs.getString("release_id"), rs.getString("model"),
            rs.getString("device_group") == null ? null : List.of(rs.getString("device_group").split(",")),
            Arrays.stream(rs.getString("stages").split(",")).mapToInt(Integer::parseInt).toArray(), rs.getInt("stage"),
            RolloutState.fromWire(rs.getString("state")), rs.getInt("max_failure_percent"), rs.getString("reason"), rs.getLong("created_ms"),
            rs.getLong("updated_ms"), rs.getString("created_by"));

    public void insert(Handle h, RolloutService.Rollout r) {
        h.createUpdate("INSERT INTO rollouts (id, tenant_id, release_id, model, device_group, stages, stage, state, max_failure_percent, "
                        + "reason, created_ms, updated_ms, created_by) VALUES (:id, :t, :r, :m, :g, :s, :stage, :state, :max, :reason, :created, "
                        + ":updated, :by)")
                .bind("id", r.id()).bind("t", r.tenant().value()).bind("r", r.releaseId()).bind("m", r.model())
                .bind("g", r.group() == null ? null : String.join(",", r.group()))
                .bind("s", Arrays.stream(r.stages()).mapToObj(String::valueOf).collect(Collectors.joining(","))).bind("stage", r.stage())
                .bind("state", r.state().wireName()).bind("max", r.maxFailurePercent()).bind("reason", r.reason())
                .bind("created", r.createdMs()).bind("updated", r.updatedMs()).bind("by", r.createdBy()).execute();
    }

    public java.util.Optional<RolloutService.Rollout> find(Handle h, TenantId tenant, String id) {
        return h.createQuery("SELECT * FROM rollouts WHERE tenant_id = :t AND id = :id").bind("t", tenant.value()).bind("id", id)
                .map(ROLLOUT).findOne();
    }

    /** The tenant's rollouts, newest first. */
    public List<RolloutService.Rollout> list(Handle h, TenantId tenant) {
        return h.createQuery("SELECT * FROM rollouts WHERE tenant_id = :t ORDER BY created_ms DESC").bind("t", tenant.value())
                .map(ROLLOUT).list();
    }

    /** The tenant's rollouts in {@code state}. */
    public List<RolloutService.Rollout> inState(Handle h, TenantId tenant, RolloutState state) {
        return h.createQuery("SELECT * FROM rollouts WHERE tenant_id = :t AND state = :s ORDER BY created_ms, id").bind("t", tenant.value())
                .bind("s", state.wireName()).map(ROLLOUT).list();
    }

    /** Sets a rollout's state, stage and reason (an operator's action); false when the tenant has no such rollout. */
    public boolean update(Handle h, TenantId tenant, String id, RolloutState state, int stage, String reason, long nowMs) {
        return h.createUpdate("UPDATE rollouts SET state = :s, stage = :stage, reason = :reason, updated_ms = :now WHERE tenant_id = :t AND id = :id")
                .bind("s", state.wireName()).bind("stage", stage).bind("reason", reason).bind("now", nowMs).bind("t", tenant.value())
                .bind("id", id).execute() == 1;
    }

    /** running → paused with the reason; false when the rollout is not running (any more). */
    public boolean pauseIfRunning(Handle h, TenantId tenant, String id, String reason, long nowMs) {
        return h.createUpdate("UPDATE rollouts SET state = :paused, reason = :why, updated_ms = :now WHERE tenant_id = :t AND id = :id "
                        + "AND state = :running")
                .bind("paused", RolloutState.PAUSED.wireName()).bind("running", RolloutState.RUNNING.wireName()).bind("why", reason)
                .bind("now", nowMs).bind("t", tenant.value()).bind("id", id).execute() == 1;
    }

    /** Per-device reports of a rollout, by device id. */
    public List<DeviceReport> devices(Handle h, TenantId tenant, String rolloutId) {
        return h.createQuery("SELECT device_id, state, reason FROM rollout_devices WHERE tenant_id = :t AND rollout_id = :r ORDER BY device_id")
                .bind("t", tenant.value()).bind("r", rolloutId)
                .map((rs, ctx) -> new DeviceReport(rs.getString("device_id"), InstallState.fromWire(rs.getString("state")), rs.getString("reason")))
                .list();
    }

    /** The devices a rollout was offered to. */
    public Set<String> offered(Handle h, TenantId tenant, String rolloutId) {
        return Set.copyOf(h.createQuery("SELECT device_id FROM rollout_devices WHERE tenant_id = :t AND rollout_id = :r")
                .bind("t", tenant.value()).bind("r", rolloutId).mapTo(String.class).list());
    }

    /**
     * Locks the rollout's row until the transaction ends: the nodes of a cluster each offer the release to the
     * devices connected to them, one node at a time, so together they never exceed the stage's share.
     */
    public boolean lock(Handle h, TenantId tenant, String id) {
        return h.createQuery("SELECT id FROM rollouts WHERE tenant_id = :t AND id = :id AND state = :running FOR UPDATE")
                .bind("t", tenant.value()).bind("id", id).bind("running", RolloutState.RUNNING.wireName()).mapTo(String.class).findOne()
                .isPresent();
    }

    /** Records that the rollout offered its release to the device. */
    public void offer(Handle h, TenantId tenant, String rolloutId, DeviceId device, long nowMs) {
        h.createUpdate("INSERT INTO rollout_devices (rollout_id, tenant_id, device_id, offered_ms, state, updated_ms) "
                        + "VALUES (:r, :t, :d, :now, :state, :now)")
                .bind("r", rolloutId).bind("t", tenant.value()).bind("d", device.value()).bind("state", InstallState.OFFERED.wireName())
                .bind("now", nowMs).execute();
    }

    /**
     * A device's report on a release: to the rollout {@code rolloutId} when given, else to every rollout of the
     * release that is not aborted. Returns how many rows it changed.
     */
    public int report(Handle h, TenantId tenant, DeviceId device, String releaseId, String rolloutId, InstallState state, String reason,
                      long nowMs) {
        var update = h.createUpdate("UPDATE rollout_devices SET state = :s, reason = :reason, updated_ms = :now WHERE tenant_id = :t "
                        + "AND device_id = :d AND rollout_id IN (SELECT id FROM rollouts WHERE release_id = :r AND tenant_id = :t AND "
                        + (rolloutId == null ? "state <> :aborted" : "id = :ro") + ")")
                .bind("s", state.wireName()).bind("reason", reason).bind("now", nowMs).bind("t", tenant.value()).bind("d", device.value())
                .bind("r", releaseId);
        return (rolloutId == null ? update.bind("aborted", RolloutState.ABORTED.wireName()) : update.bind("ro", rolloutId)).execute();
    }

    /** Installs of the rollout reported at or after {@code sinceMs}. */
    public Counts counts(Handle h, TenantId tenant, String rolloutId, long sinceMs) {
        return h.createQuery("SELECT COUNT(CASE WHEN state = :failed THEN 1 END) AS failed, "
                        + "COUNT(CASE WHEN state IN (:failed, :installed) THEN 1 END) AS finished FROM rollout_devices "
                        + "WHERE tenant_id = :t AND rollout_id = :r AND updated_ms >= :since")
                .bind("failed", InstallState.FAILED.wireName()).bind("installed", InstallState.INSTALLED.wireName())
                .bind("t", tenant.value()).bind("r", rolloutId).bind("since", sinceMs)
                .map((rs, ctx) -> new Counts(rs.getLong("failed"), rs.getLong("finished"))).one();
    }

    /** Whether the device was offered the release by a rollout of the tenant that is running now. */
    public boolean offeredNow(Handle h, TenantId tenant, DeviceId device, String releaseId) {
        return h.createQuery("SELECT COUNT(*) FROM rollout_devices d JOIN rollouts r ON r.id = d.rollout_id WHERE d.tenant_id = :t "
                        + "AND r.tenant_id = :t AND d.device_id = :d AND r.release_id = :rel AND r.state = :running")
                .bind("t", tenant.value()).bind("d", device.value()).bind("rel", releaseId).bind("running", RolloutState.RUNNING.wireName())
                .mapTo(Long.class).one() > 0;
    }

    /** The tenant's active devices of a model: who a rollout of that model targets. */
    public List<String> activeDevices(Handle h, TenantId tenant, String model) {
        return h.createQuery("SELECT id FROM devices WHERE tenant_id = :t AND model = :m AND status = :active")
                .bind("t", tenant.value()).bind("m", model).bind("active", DeviceStatus.ACTIVE.wireName()).mapTo(String.class).list();
    }
}
