package dev.bulwark.server.firmware;

import com.fasterxml.jackson.databind.node.JsonNodeFactory;
import com.fasterxml.jackson.databind.node.ObjectNode;
import dev.bulwark.protocol.DeviceId;
import dev.bulwark.protocol.TenantId;
import dev.bulwark.protocol.Topics;
import dev.bulwark.server.core.Clock;
import dev.bulwark.server.core.Refusal;
import dev.bulwark.server.crypto.Secrets;
import dev.bulwark.server.device.DeviceLink;
import dev.bulwark.server.identity.TenantStore;
import dev.bulwark.server.store.Database;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Objects;
import java.util.Optional;
import java.util.Set;
import org.jdbi.v3.core.Handle;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Staged rollouts: a release goes to a model's devices (optionally a named group of them) stage by stage,
 * canary first ({@code [5, 25, 100]} percent of the targeted devices, in an order fixed per rollout). Offers
 * reach devices on {@code devices/{id}/firmware}; devices report {@code downloading}, {@code verified},
 * {@code installed} or {@code failed} with a reason. The rollout pauses itself when the share of failed
 * installs among the finished ones passes its bound; operators advance, pause, resume or abort it
 * ({@link RolloutState}, {@link InstallState}). Rows are stored by {@link RolloutStore}; offers go out on the
 * device link given at construction (the node's link, bound to the MQTT listener once it exists).
 */
public final class RolloutService {
    private static final Logger LOG = LoggerFactory.getLogger(RolloutService.class);

    /** A rollout's state. */
    public record Rollout(String id, TenantId tenant, String releaseId, String model, List<String> group, int[] stages, int stage,
                          RolloutState state, int maxFailurePercent, String reason, long createdMs, long updatedMs, String createdBy) {
    }

    private final Database db;
    private final Clock clock;
    private final FirmwareService firmware;
    private final RolloutStore store;
    private final TenantStore tenants;
    private final DeviceLink link;

    /** {@code link}: where offers go (the node's device link; nothing is offered while it reaches no device). */
    public RolloutService(Database db, Clock clock, FirmwareService firmware, RolloutStore store, TenantStore tenants, DeviceLink link) {
        this.db = Objects.requireNonNull(db, "db");
        this.clock = Objects.requireNonNull(clock, "clock");
        this.firmware = Objects.requireNonNull(firmware, "firmware");
        this.store = Objects.requireNonNull(store, "store");
        this.tenants = Objects.requireNonNull(tenants, "tenants");
        this.link = Objects.requireNonNull(link, "link");
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
        store.insert(h, new Rollout(id, tenant, release.id(), release.model(), group == null ? null : List.copyOf(group), stages.clone(), 0,
                RolloutState.RUNNING, maxFailurePercent, null, now, now, actor));
        return find(h, tenant, id).orElseThrow();
    }

    public Optional<Rollout> find(Handle h, TenantId tenant, String id) {
        return store.find(h, tenant, id);
    }

    /** The tenant's rollouts, newest first. */
    public List<Rollout> list(Handle h, TenantId tenant) {
        return store.list(h, tenant);
    }

    /** Per-device states of a rollout of the tenant: device → {state, reason}. */
    public Map<String, Map<String, Object>> devices(Handle h, TenantId tenant, String rolloutId) {
        Map<String, Map<String, Object>> out = new LinkedHashMap<>();
        for (RolloutStore.DeviceReport d : store.devices(h, tenant, rolloutId)) {
            Map<String, Object> v = new LinkedHashMap<>();
            v.put("state", d.state().wireName());
            v.put("reason", d.reason());
            out.put(d.device(), v);
        }
        return out;
    }

    /** Whether {@code device} was offered {@code release} by a rollout that is running now. */
    public boolean offeredNow(Handle h, TenantId tenant, DeviceId device, String release) {
        return store.offeredNow(h, tenant, device, release);
    }

    /** advance | pause | resume | abort. */
    public Rollout control(Handle h, TenantId tenant, String id, String action, String reason) {
        Rollout r = find(h, tenant, id).orElseThrow(Refusal::notFound);
        RolloutState state = r.state();
        int stage = r.stage();
        switch (action) {
            case "advance" -> {
                if (state != RolloutState.RUNNING && state != RolloutState.PAUSED) {
                    throw Refusal.conflict("the rollout is " + state.wireName());
                }
                if (stage + 1 >= r.stages().length) {
                    throw Refusal.conflict("the rollout is at its last stage (100%)");
                }
                stage++;
            }
            case "pause" -> {
                if (state != RolloutState.RUNNING) {
                    throw Refusal.conflict("only a running rollout can be paused; it is " + state.wireName());
                }
                state = RolloutState.PAUSED;
            }
            case "resume" -> {
                if (state != RolloutState.PAUSED) {
                    throw Refusal.conflict("only a paused rollout can be resumed; it is " + state.wireName());
                }
                state = RolloutState.RUNNING;
            }
            case "abort" -> {
                if (state == RolloutState.ABORTED) {
                    throw Refusal.conflict("the rollout is already aborted");
                }
                state = RolloutState.ABORTED;
            }
            default -> throw Refusal.notFound();
        }
        store.update(h, tenant, id, state, stage, reason, clock.nowMs());
        return find(h, tenant, id).orElseThrow();
    }

    /** A device's install report for a release it was offered ({@code state} as the device sent it). */
    public void report(Handle h, TenantId tenant, DeviceId device, String releaseId, String rolloutId, String state, String reason) {
        InstallState reported = InstallState.reported(state);
        // to the rollout the offer came from (the SDK echoes its id); without one, to the rollouts not aborted
        int n = store.report(h, tenant, device, releaseId, rolloutId, reported,
                reason == null ? null : reason.length() > 500 ? reason.substring(0, 500) : reason, clock.nowMs());
        if (n == 0) {
            throw Refusal.notFound();
        }
    }

    /** Offers the current stage to the devices that have not had it, and pauses rollouts that fail too often; tenant by tenant. */
    public void tick() {
        List<Rollout> running = db.read(h -> {
            List<Rollout> out = new ArrayList<>();
            for (TenantStore.Tenant t : tenants.list(h, "", Integer.MAX_VALUE)) {
                out.addAll(store.inState(h, TenantId.of(t.id()), RolloutState.RUNNING));
            }
            return out;
        });
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
        RolloutStore.Counts counts = db.read(h -> store.counts(h, r.tenant(), r.id(), r.updatedMs()));
        long failed = counts.failed();
        long finished = counts.finished();
        if (failed > 0 && failed * 100 > (long) r.maxFailurePercent() * finished) {
            String why = failed + " of " + finished + " finished installs failed, above the bound of " + r.maxFailurePercent() + "%";
            db.tx(h -> store.pauseIfRunning(h, r.tenant(), r.id(), why, clock.nowMs()));
            LOG.warn("rollout {} paused itself: {}", r.id(), why);
            return;
        }
        List<String> targeted = new ArrayList<>(db.read(h -> store.activeDevices(h, r.tenant(), r.model())));
        if (r.group() != null) {
            targeted.retainAll(r.group());
        }
        // an order fixed per rollout but unrelated to device ids: the canary is a random sample, not the first ids
        targeted.sort(Comparator.comparing(d -> Secrets.sha256Hex(r.id() + "/" + d)));
        int quota = (int) Math.ceil(targeted.size() * r.stages()[r.stage()] / 100.0);
        FirmwareService.Release release = db.read(h -> firmware.release(h, r.tenant(), r.releaseId()).orElseThrow());
        // under the rollout's row lock: nodes offering to their own devices at once still share one quota
        db.tx(h -> {
            if (!store.lock(h, r.tenant(), r.id())) {
                return null; // paused or finished meanwhile
            }
            Set<String> offered = store.offered(h, r.tenant(), r.id());
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
                DeviceId d = DeviceId.of(device);
                boolean sent = link.send(r.tenant(), d, Topics.firmware(d), offer.toString().getBytes(StandardCharsets.UTF_8), () -> { });
                if (sent) {
                    room--;
                    store.offer(h, r.tenant(), r.id(), d, clock.nowMs());
                }
            }
            return null;
        });
    }
}
