package dev.bulwark.server.shadow;

import static org.assertj.core.api.Assertions.assertThat;

import dev.bulwark.protocol.DeviceId;
import dev.bulwark.protocol.TenantId;
import dev.bulwark.server.testkit.Backend;
import dev.bulwark.server.testkit.StoreFixture;
import org.jdbi.v3.core.Handle;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedClass;
import org.junit.jupiter.params.provider.EnumSource;

/** The contract of {@link ConfigStore} on every backend: desired versions, reports, tenant isolation. */
@ParameterizedClass
@EnumSource(Backend.class)
class ConfigStoreContractTest extends StoreFixture {
    static final TenantId A = TenantId.of(ACME);
    static final TenantId G = TenantId.of(GLOBEX);
    static final DeviceId D = DeviceId.of(DEVICE);
    final ConfigStore store = new ConfigStore();

    @Test
    void a_device_without_a_row_has_no_configuration() {
        assertThat(sql((Handle h) -> store.find(h, A, D))).isEmpty();
        assertThat(sql((Handle h) -> store.lockDesiredVersion(h, A, D))).isEmpty();
    }

    @Test
    void desired_documents_are_versioned_and_reports_kept_beside_them() {
        sql((Handle h) -> {
            store.setDesired(h, A, D, "{\"interval\":60}", 1, 1000);
            return null;
        });
        assertThat(sql((Handle h) -> store.lockDesiredVersion(h, A, D))).contains(1L);
        sql((Handle h) -> {
            store.setDesired(h, A, D, "{\"interval\":30}", 2, 2000);
            store.setReported(h, A, D, "sealed:k:abc", 3000);
            return null;
        });
        ConfigStore.Row r = sql((Handle h) -> store.find(h, A, D)).orElseThrow();
        assertThat(r.desired()).isEqualTo("{\"interval\":30}");
        assertThat(r.desiredVersion()).isEqualTo(2);
        assertThat(r.desiredMs()).isEqualTo(2000L);
        assertThat(r.storedReported()).isEqualTo("sealed:k:abc");
        assertThat(r.reportedMs()).isEqualTo(3000L);
    }

    @Test
    void a_report_before_any_desired_document_creates_the_row_at_version_0() {
        sql((Handle h) -> {
            store.setReported(h, A, D, "{\"interval\":5}", 1000);
            return null;
        });
        ConfigStore.Row r = sql((Handle h) -> store.find(h, A, D)).orElseThrow();
        assertThat(r.desired()).isNull();
        assertThat(r.desiredVersion()).isZero();
        assertThat(r.desiredMs()).isNull();
        assertThat(r.storedReported()).isEqualTo("{\"interval\":5}");
    }

    @Test
    void another_tenant_never_reads_or_changes_a_configuration() {
        sql((Handle h) -> {
            store.setDesired(h, A, D, "{\"interval\":60}", 1, 1000);
            store.setReported(h, A, D, "acme-report", 1000);
            return null;
        });
        assertThat(sql((Handle h) -> store.find(h, G, D))).isEmpty();
        assertThat(sql((Handle h) -> store.lockDesiredVersion(h, G, D))).isEmpty();
        sql((Handle h) -> {
            store.setDesired(h, G, D, "{\"interval\":1}", 7, 2000);
            store.setReported(h, G, D, "globex-report", 2000);
            return null;
        });
        ConfigStore.Row a = sql((Handle h) -> store.find(h, A, D)).orElseThrow();
        assertThat(a.desired()).isEqualTo("{\"interval\":60}");
        assertThat(a.desiredVersion()).isEqualTo(1);
        assertThat(a.storedReported()).isEqualTo("acme-report");
        assertThat(sql((Handle h) -> store.find(h, G, D)).orElseThrow().desiredVersion()).isEqualTo(7);
    }
}
