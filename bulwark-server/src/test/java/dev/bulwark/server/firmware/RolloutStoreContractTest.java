package dev.bulwark.server.firmware;

import static org.assertj.core.api.Assertions.assertThat;

import dev.bulwark.protocol.DeviceId;
import dev.bulwark.protocol.TenantId;
import dev.bulwark.server.testkit.Backend;
import dev.bulwark.server.testkit.StoreFixture;
import java.util.List;
import org.jdbi.v3.core.Handle;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedClass;
import org.junit.jupiter.params.provider.EnumSource;

/** The contract of {@link RolloutStore} on every backend: rollouts, offers and reports, states by enum, tenant isolation. */
@ParameterizedClass
@EnumSource(Backend.class)
class RolloutStoreContractTest extends StoreFixture {
    static final TenantId A = TenantId.of(ACME);
    static final TenantId G = TenantId.of(GLOBEX);
    static final DeviceId D = DeviceId.of(DEVICE);
    final RolloutStore store = new RolloutStore();

    @BeforeEach
    void releases() {
        FirmwareStore fw = new FirmwareStore();
        sql((Handle h) -> {
            fw.insertRelease(h, FirmwareStoreContractTest.release(A, "fw-a", 1, 0), new byte[1], new byte[12], FirmwareService.CHUNK);
            fw.insertRelease(h, FirmwareStoreContractTest.release(G, "fw-g", 1, 0), new byte[1], new byte[12], FirmwareService.CHUNK);
            return null;
        });
    }

    private RolloutService.Rollout rollout(TenantId t, String id, String release, long created) {
        return new RolloutService.Rollout(id, t, release, "thermo", List.of(DEVICE, "dev-2"), new int[] {5, 25, 100}, 0, RolloutState.RUNNING,
                10, null, created, created, "alice");
    }

    private void insert(RolloutService.Rollout r) {
        sql((Handle h) -> {
            store.insert(h, r);
            return null;
        });
    }

    private RolloutService.Rollout find(TenantId t, String id) {
        return sql((Handle h) -> store.find(h, t, id)).orElseThrow();
    }

    @Test
    void a_rollout_is_stored_found_listed_and_moves_through_its_states() {
        insert(rollout(A, "ro-1", "fw-a", 1000));
        insert(rollout(A, "ro-2", "fw-a", 2000));
        RolloutService.Rollout r = find(A, "ro-1");
        assertThat(r.tenant()).isEqualTo(A);
        assertThat(r.group()).containsExactly(DEVICE, "dev-2");
        assertThat(r.stages()).containsExactly(5, 25, 100);
        assertThat(r.state()).isEqualTo(RolloutState.RUNNING);
        assertThat(sql((Handle h) -> store.list(h, A))).extracting(RolloutService.Rollout::id).containsExactly("ro-2", "ro-1");
        assertThat(sql((Handle h) -> store.update(h, A, "ro-1", RolloutState.PAUSED, 1, "by alice", 3000))).isTrue();
        r = find(A, "ro-1");
        assertThat(r.state()).isEqualTo(RolloutState.PAUSED);
        assertThat(r.stage()).isEqualTo(1);
        assertThat(r.reason()).isEqualTo("by alice");
        assertThat(r.updatedMs()).isEqualTo(3000);
        assertThat(sql((Handle h) -> store.inState(h, A, RolloutState.RUNNING))).extracting(RolloutService.Rollout::id).containsExactly("ro-2");
        assertThat(sql((Handle h) -> store.pauseIfRunning(h, A, "ro-1", "too many failures", 4000))).as("already paused").isFalse();
        assertThat(sql((Handle h) -> store.pauseIfRunning(h, A, "ro-2", "too many failures", 4000))).isTrue();
        assertThat(find(A, "ro-2").state()).isEqualTo(RolloutState.PAUSED);
        assertThat(count("SELECT COUNT(*) FROM rollouts WHERE state = 'paused'")).as("stored by its wire name").isEqualTo(2);
    }

    @Test
    void offers_and_reports_are_counted_per_rollout() {
        device(ACME, "dev-2", "thermo", "active");
        device(ACME, "dev-3", "thermo", "disabled");
        device(ACME, "dev-4", "other", "active");
        assertThat(sql((Handle h) -> store.activeDevices(h, A, "thermo"))).containsExactlyInAnyOrder(DEVICE, "dev-2");
        insert(rollout(A, "ro-1", "fw-a", 1000));
        sql((Handle h) -> {
            store.offer(h, A, "ro-1", D, 2000);
            store.offer(h, A, "ro-1", DeviceId.of("dev-2"), 2000);
            return null;
        });
        assertThat(sql((Handle h) -> store.offered(h, A, "ro-1"))).containsExactlyInAnyOrder(DEVICE, "dev-2");
        assertThat(sql((Handle h) -> store.devices(h, A, "ro-1"))).extracting(RolloutStore.DeviceReport::state)
                .containsExactly(InstallState.OFFERED, InstallState.OFFERED);
        assertThat(sql((Handle h) -> store.offeredNow(h, A, D, "fw-a"))).isTrue();
        assertThat(sql((Handle h) -> store.report(h, A, D, "fw-a", "ro-1", InstallState.FAILED, "flash error", 3000))).isEqualTo(1);
        assertThat(sql((Handle h) -> store.report(h, A, DeviceId.of("dev-2"), "fw-a", null, InstallState.INSTALLED, null, 3000))).isEqualTo(1);
        assertThat(sql((Handle h) -> store.devices(h, A, "ro-1"))).containsExactly(
                new RolloutStore.DeviceReport(DEVICE, InstallState.FAILED, "flash error"),
                new RolloutStore.DeviceReport("dev-2", InstallState.INSTALLED, null));
        assertThat(sql((Handle h) -> store.counts(h, A, "ro-1", 0))).isEqualTo(new RolloutStore.Counts(1, 2));
        assertThat(sql((Handle h) -> store.counts(h, A, "ro-1", 3001))).as("only reports since").isEqualTo(new RolloutStore.Counts(0, 0));
        // a paused rollout offers nothing now; an aborted one takes no report without its id
        sql((Handle h) -> store.update(h, A, "ro-1", RolloutState.ABORTED, 0, null, 4000));
        assertThat(sql((Handle h) -> store.offeredNow(h, A, D, "fw-a"))).isFalse();
        assertThat(sql((Handle h) -> store.report(h, A, D, "fw-a", null, InstallState.INSTALLED, null, 5000))).isZero();
    }

    @Test
    void another_tenant_never_reads_or_changes_a_rollout() {
        device(GLOBEX, "dev-9", "thermo", "active");
        insert(rollout(A, "ro-1", "fw-a", 1000));
        sql((Handle h) -> {
            store.offer(h, A, "ro-1", D, 2000);
            return null;
        });
        assertThat(sql((Handle h) -> store.find(h, G, "ro-1"))).isEmpty();
        assertThat(sql((Handle h) -> store.list(h, G))).isEmpty();
        assertThat(sql((Handle h) -> store.inState(h, G, RolloutState.RUNNING))).isEmpty();
        assertThat(sql((Handle h) -> store.update(h, G, "ro-1", RolloutState.ABORTED, 2, "x", 3000))).isFalse();
        assertThat(sql((Handle h) -> store.pauseIfRunning(h, G, "ro-1", "x", 3000))).isFalse();
        assertThat(sql((Handle h) -> store.devices(h, G, "ro-1"))).isEmpty();
        assertThat(sql((Handle h) -> store.offered(h, G, "ro-1"))).isEmpty();
        assertThat(sql((Handle h) -> store.counts(h, G, "ro-1", 0))).isEqualTo(new RolloutStore.Counts(0, 0));
        assertThat(sql((Handle h) -> store.offeredNow(h, G, D, "fw-a"))).isFalse();
        assertThat(sql((Handle h) -> store.report(h, G, D, "fw-a", "ro-1", InstallState.FAILED, "x", 3000))).isZero();
        assertThat(sql((Handle h) -> store.report(h, G, D, "fw-a", null, InstallState.FAILED, "x", 3000))).isZero();
        assertThat(sql((Handle h) -> store.activeDevices(h, A, "thermo"))).containsExactly(DEVICE);
        RolloutService.Rollout r = find(A, "ro-1");
        assertThat(r.state()).isEqualTo(RolloutState.RUNNING);
        assertThat(r.stage()).isZero();
        assertThat(sql((Handle h) -> store.devices(h, A, "ro-1"))).containsExactly(new RolloutStore.DeviceReport(DEVICE, InstallState.OFFERED, null));
    }
}
