package dev.bulwark.server.ownership;

import static org.assertj.core.api.Assertions.assertThat;

import dev.bulwark.protocol.DeviceId;
import dev.bulwark.protocol.TenantId;
import dev.bulwark.server.testkit.Backend;
import dev.bulwark.server.testkit.StoreFixture;
import org.jdbi.v3.core.Handle;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedClass;
import org.junit.jupiter.params.provider.EnumSource;

/** The contract of {@link PeriodStore} on every backend: periods, what their end clears, tenant isolation. */
@ParameterizedClass
@EnumSource(Backend.class)
class PeriodStoreContractTest extends StoreFixture {
    static final TenantId A = TenantId.of(ACME);
    static final TenantId G = TenantId.of(GLOBEX);
    static final DeviceId D = DeviceId.of(DEVICE);
    final PeriodStore store = new PeriodStore();

    private void insert(Ownership.Period p) {
        sql((Handle h) -> {
            store.insert(h, p);
            return null;
        });
    }

    @Test
    void a_device_has_one_open_period_and_a_history() {
        insert(new Ownership.Period("op-1", A, D, null, "k1", 1000, null));
        assertThat(sql((Handle h) -> store.open(h, A, D))).contains(new Ownership.Period("op-1", A, D, null, "k1", 1000, null));
        assertThat(sql((Handle h) -> store.close(h, A, D, 2000))).isEqualTo(1);
        assertThat(sql((Handle h) -> store.open(h, A, D))).isEmpty();
        insert(new Ownership.Period("op-2", A, D, "ow-1", "k2", 2000, null));
        assertThat(sql((Handle h) -> store.ofDevice(h, A, D))).containsExactly(
                new Ownership.Period("op-1", A, D, null, "k1", 1000, 2000L), new Ownership.Period("op-2", A, D, "ow-1", "k2", 2000, null));
        assertThat(sql((Handle h) -> store.ofOwner(h, A, "ow-1"))).extracting(Ownership.Period::id).containsExactly("op-2");
        assertThat(sql((Handle h) -> store.deleteOfOwner(h, A, "ow-1"))).isEqualTo(1);
        assertThat(sql((Handle h) -> store.ofDevice(h, A, D))).extracting(Ownership.Period::id).containsExactly("op-1");
    }

    @Test
    void the_end_of_a_period_clears_the_report_and_queues_a_factory_reset() {
        sql((Handle h) -> h.createUpdate("INSERT INTO device_config (tenant_id, device_id, desired, desired_version, reported, reported_ms) "
                + "VALUES ('acme', 'dev-1', '{}', 3, 'sealed:k:x', 5)").execute());
        sql((Handle h) -> {
            store.clearReportedConfig(h, A, D);
            store.queueFactoryReset(h, A, D, "cmd-1", 1000, 9000, "alice");
            return null;
        });
        assertThat(count("SELECT COUNT(*) FROM device_config WHERE reported IS NULL AND reported_ms IS NULL AND desired_version = 3"))
                .isEqualTo(1);
        assertThat(count("SELECT COUNT(*) FROM commands WHERE tenant_id = 'acme' AND device_id = 'dev-1' AND name = 'factory-reset' "
                + "AND state = 'queued' AND expires_ms = 9000")).isEqualTo(1);
    }

    @Test
    void another_tenant_never_reads_or_ends_a_period() {
        insert(new Ownership.Period("op-1", A, D, "ow-1", "k1", 1000, null));
        sql((Handle h) -> h.createUpdate("INSERT INTO device_config (tenant_id, device_id, desired_version, reported, reported_ms) "
                + "VALUES ('acme', 'dev-1', 0, 'kept', 5)").execute());
        assertThat(sql((Handle h) -> store.open(h, G, D))).isEmpty();
        assertThat(sql((Handle h) -> store.ofDevice(h, G, D))).isEmpty();
        assertThat(sql((Handle h) -> store.ofOwner(h, G, "ow-1"))).isEmpty();
        assertThat(sql((Handle h) -> store.close(h, G, D, 2000))).isZero();
        assertThat(sql((Handle h) -> store.deleteOfOwner(h, G, "ow-1"))).isZero();
        sql((Handle h) -> {
            store.clearReportedConfig(h, G, D);
            return null;
        });
        assertThat(sql((Handle h) -> store.open(h, A, D))).contains(new Ownership.Period("op-1", A, D, "ow-1", "k1", 1000, null));
        assertThat(count("SELECT COUNT(*) FROM device_config WHERE tenant_id = 'acme' AND reported = 'kept'")).isEqualTo(1);
    }
}
