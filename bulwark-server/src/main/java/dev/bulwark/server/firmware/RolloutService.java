package dev.bulwark.server.firmware;

import com.fasterxml.jackson.databind.node.JsonNodeFactory;
import com.fasterxml.jackson.databind.node.ObjectNode;
import dev.bulwark.protocol.DeviceId;
import dev.bulwark.protocol.TenantId;
import dev.bulwark.protocol.Topics;
import dev.bulwark.server.Clock;
import dev.bulwark.server.Refusal;
import dev.bulwark.server.crypto.Secrets;
import dev.bulwark.server.device.DeviceLink;
import dev.bulwark.server.store.Database;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.Comparator;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.stream.Collectors;
import org.jdbi.v3.core.Handle;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Staged rollouts: a release goes to a model's devices (optionally a named group of them) stage by stage,
 * canary first ({@code [5, 25, 100]} percent of the targeted devices, in an order fixed per rollout). Offers
 * reach devices on {@code devices/{id}/firmware}; devices report {@code downloading}, {@code verified},
 * {@code installed} or {@code failed} with a reason. The rollout pauses itself when the share of failed
 * installs among the finished ones passes its bound; operators advance, pause, resume or abort it.
 */
public final class RolloutService {
    private static final Logger LOG = LoggerFactory.getLogger(RolloutService.class);
    public static final Set<String> REPORT_STATES = Set.of("downloading", "verified", "installed", "failed");

    /** A rollout's state. */
    public record Rollout(String id, String tenantId, String releaseId, String model, List<String> group, int[] stages, int stage,
                          String state, int maxFailurePercent, String reason, long createdMs, long updatedMs, String createdBy) {
    }

    private final Database db;
    private final Clock clock;
    private final FirmwareService firmware;
    private DeviceLink link;

    public RolloutService(Database db, Clock clock, FirmwareService firmware) {
        this.db = db;
        this.clock = clock;
        this.firmware = firmware;
    }

    public void attach(DeviceLink link) {
        this.link = link;
    }

    public Rollout create(Handle h, TenantId tenant, FirmwareService.Release release, List<String> group, int[] stages, int maxFailurePercent,
                          String actor) {
        if (stages.length == 0 || stages.length > 10 || stages[stages.length - 1] != 100) {
            throw Refusal.invalid("stages must be 1 to 10 rising percentages ending with 100, e.g. [5, 25, 100]");
        }
        for (int i = 0; i < stages.length; i++) {
            if (stages[i] < 1 || stages[i] > 100 || (i > 0 && stages[i] <= stages[i - 1])) {
                throw Refusal.invalid("stages must be rising percentages between 1 and 100");
            }
        }
        if (maxFailurePercent < 0 || maxFailurePercent > 100) {
            throw Refusal.invalid("maxFailurePercent must be between 0 and 100");
        }
        if (group != null) {
            if (group.isEmpty() || String.join(",", group).length() > 2000) {
                throw Refusal.invalid("devices, when given, lists device ids (at most 2000 characters together); use stages for large fleets");
            }
            for (String d : group) {
                try {
                    DeviceId.of(d);
                } catch (dev.bulwark.protocol.InvalidIdException e) {
                    throw Refusal.invalid("devices: " + e.getMessage());
                }
            }
        }
        long now = clock.nowMs();
        String id = "ro-" + Secrets.randomHex(8);
        h.createUpdate("INSERT INTO rollouts (id, tenant_id, release_id, model, device_group, stages, stage, state, max_failure_percent, "
                        + "created_ms, updated_ms, created_by) VALUES (:id, :t, :r, :m, :g, :s, 0, 'running', :max, :now, :now, :by)")
                .bind("id", id).bind("t", tenant.value()).bind("r", release.id()).bind("m", release.model())
                .bind("g", group == null ? null : String.join(",", group)).bind("s", Arrays.stream(stages).mapToObj(String::valueOf)
                        .collect(Collectors.joining(","))).bind("max", maxFailurePercent).bind("now", now).bind("by", actor).execute();
        return find(h, tenant.value(), id).orElseThrow();
    }

    public java.util.Optional<Rollout> find(Handle h, String tenant, String id) {
        return h.createQuery("SELECT * FROM rollouts WHERE tenant_id = :t AND id = :id").bind("t", tenant).bind("id", id)
                .map((rs, ctx) -> new Rollout(rs.getString("id"), rs.getString("tenant_id"), rs.getString("release_id"), rs.getString("model"),
                        rs.getString("device_group") == null ? null : List.of(rs.getString("device_group").split(",")),
                        Arrays.stream(rs.getString("stages").split(",")).mapToInt(Integer::parseInt).toArray(), rs.getInt("stage"),
                        rs.getString("state"), rs.getInt("max_failure_percent"), rs.getString("reason"), rs.getLong("created_ms"),
                        rs.getLong("updated_ms"), rs.getString("created_by"))).findOne();
    }

    public List<Rollout> list(Handle h, String tenant) {
        List<String> ids = h.createQuery("SELECT id FROM rollouts WHERE tenant_id = :t ORDER BY created_ms DESC").bind("t", tenant)
                .mapTo(String.class).list();
        List<Rollout> out = new ArrayList<>();
        ids.forEach(i -> find(h, tenant, i).ifPresent(out::add));
        return out;
    }

    /** Per-device states of a rollout: device → {state, reason}. */
    public Map<String, Map<String, Object>> devices(Handle h, String rolloutId) {
        Map<String, Map<String, Object>> out = new LinkedHashMap<>();
        h.createQuery("SELECT device_id, state, reason, updated_ms FROM rollout_devices WHERE rollout_id = :r ORDER BY device_id")
                .bind("r", rolloutId).mapToMap().forEach(m -> {
                    Map<String, Object> v = new LinkedHashMap<>();
                    v.put("state", m.get("state"));
                    v.put("reason", m.get("reason"));
                    out.put((String) m.get("device_id"), v);
                });
        return out;
    }

    /** advance | pause | resume | abort. */
    public Rollout control(Handle h, String tenant, String id, String action, String reason) {
        Rollout r = find(h, tenant, id).orElseThrow(Refusal::notFound);
        String state = r.state();
        int stage = r.stage();
        switch (action) {
            case "advance" -> {
                if (!state.equals("running") && !state.equals("paused")) {
                    throw Refusal.conflict("the rollout is " + state);
                }
                if (stage + 1 >= r.stages().length) {
                    throw Refusal.conflict("the rollout is at its last stage (100%)");
                }
                stage++;
            }
            case "pause" -> {
                if (!state.equals("running")) {
                    throw Refusal.conflict("only a running rollout can be paused; it is " + state);
                }
                state = "paused";
            }
            case "resume" -> {
                if (!state.equals("paused")) {
                    throw Refusal.conflict("only a paused rollout can be resumed; it is " + state);
                }
                state = "running";
            }
            case "abort" -> {
                if (state.equals("aborted")) {
                    throw Refusal.conflict("the rollout is already aborted");
                }
                state = "aborted";
            }
            default -> throw Refusal.notFound();
        }
        h.createUpdate("UPDATE rollouts SET state = :s, stage = :stage, reason = :reason, updated_ms = :now WHERE id = :id")
                .bind("s", state).bind("stage", stage).bind("reason", reason).bind("now", clock.nowMs()).bind("id", id).execute();
        return find(h, tenant, id).orElseThrow();
    }

    /** A device's install report for a release it was offered. */
    public void report(Handle h, String tenant, String device, String releaseId, String rolloutId, String state, String reason) {
        if (!REPORT_STATES.contains(state)) {
            throw Refusal.invalid("state must be one of downloading, verified, installed, failed");
        }
        // to the rollout the offer came from (the SDK echoes its id); without one, to the rollouts not aborted
        int n = h.createUpdate("UPDATE rollout_devices SET state = :s, reason = :reason, updated_ms = :now WHERE tenant_id = :t "
                        + "AND device_id = :d AND rollout_id IN (SELECT id FROM rollouts WHERE release_id = :r AND tenant_id = :t AND "
                        + (rolloutId == null ? "state <> 'aborted'" : "id = :ro") + ")")
                .bind("s", state).bind("reason", reason == null ? null : reason.length() > 500 ? reason.substring(0, 500) : reason)
                .bind("now", clock.nowMs()).bind("t", tenant).bind("d", device).bind("r", releaseId).bind("ro", rolloutId).execute();
        if (n == 0) {
            throw Refusal.notFound();
        }
    }

    /** Offers the current stage to the devices that have not had it, and pauses rollouts that fail too often. */
    public void tick() {
        if (link == null) {
            return;
        }
        List<Rollout> running = db.read(h -> h.createQuery("SELECT tenant_id, id FROM rollouts WHERE state = 'running'")
                .map((rs, ctx) -> find(h, rs.getString("tenant_id"), rs.getString("id")).orElseThrow()).list());
        for (Rollout r : running) {
            try {
                tick(r);
            } catch (RuntimeException e) {
                LOG.error("rollout {} step failed: {}", r.id(), e.toString());
            }
        }
    }

    private void tick(Rollout r) {
        // failures since the last operator action (a resume starts a fresh count)
        Map<String, Object> counts = db.read(h -> h.createQuery("SELECT COUNT(CASE WHEN state = 'failed' THEN 1 END) AS failed, "
                + "COUNT(CASE WHEN state IN ('failed', 'installed') THEN 1 END) AS finished FROM rollout_devices WHERE rollout_id = :r "
                + "AND updated_ms >= :since").bind("r", r.id()).bind("since", r.updatedMs()).mapToMap().one());
        long failed = ((Number) counts.get("failed")).longValue();
        long finished = ((Number) counts.get("finished")).longValue();
        if (failed > 0 && failed * 100 > (long) r.maxFailurePercent() * finished) {
            String why = failed + " of " + finished + " finished installs failed, above the bound of " + r.maxFailurePercent() + "%";
            db.tx(h -> h.createUpdate("UPDATE rollouts SET state = 'paused', reason = :why, updated_ms = :now WHERE id = :id AND state = 'running'")
                    .bind("why", why).bind("now", clock.nowMs()).bind("id", r.id()).execute());
            LOG.warn("rollout {} paused itself: {}", r.id(), why);
            return;
        }
        List<String> targeted = db.read(h -> h.createQuery("SELECT id FROM devices WHERE tenant_id = :t AND model = :m AND status = 'active'")
                .bind("t", r.tenantId()).bind("m", r.model()).mapTo(String.class).list());
        if (r.group() != null) {
            targeted.retainAll(r.group());
        }
        // an order fixed per rollout but unrelated to device ids: the canary is a random sample, not the first ids
        targeted.sort(Comparator.comparing(d -> Secrets.sha256Hex(r.id() + "/" + d)));
        int quota = (int) Math.ceil(targeted.size() * r.stages()[r.stage()] / 100.0);
        Set<String> offered = Set.copyOf(db.read(h -> h.createQuery("SELECT device_id FROM rollout_devices WHERE rollout_id = :r")
                .bind("r", r.id()).mapTo(String.class).list()));
        FirmwareService.Release release = db.read(h -> firmware.release(h, r.tenantId(), r.releaseId()).orElseThrow());
        long already = targeted.stream().filter(offered::contains).count();
        long room = quota - already; // never more than the stage's share, even as the targeted set grows
        for (String device : targeted) {
            if (room <= 0) {
                break;
            }
            if (offered.contains(device)) {
                continue;
            }
            ObjectNode offer = JsonNodeFactory.instance.objectNode();
            offer.put("rollout", r.id()).put("release", release.id()).put("version", release.version())
                    .put("versionNumber", release.versionNumber()).put("metadata", "/device/v1/firmware/" + release.id());
            boolean sent = link.send(TenantId.of(r.tenantId()), DeviceId.of(device), Topics.firmware(DeviceId.of(device)),
                    offer.toString().getBytes(StandardCharsets.UTF_8), () -> { });
            if (sent) {
                room--;
                long now = clock.nowMs();
                db.tx(h -> h.createUpdate("INSERT INTO rollout_devices (rollout_id, tenant_id, device_id, offered_ms, state, updated_ms) "
                                + "VALUES (:r, :t, :d, :now, 'offered', :now)")
                        .bind("r", r.id()).bind("t", r.tenantId()).bind("d", device).bind("now", now).execute());
            }
        }
    }
}
