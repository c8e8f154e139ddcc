package dev.bulwark.server.lifecycle;

import static org.assertj.core.api.Assertions.assertThat;

import dev.bulwark.protocol.TenantId;
import dev.bulwark.server.testkit.Backend;
import dev.bulwark.server.testkit.StoreFixture;
import org.jdbi.v3.core.Handle;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedClass;
import org.junit.jupiter.params.provider.EnumSource;

/** The contract of {@link LifecycleStore} on every backend: retention, exports and their states, tenant isolation. */
@ParameterizedClass
@EnumSource(Backend.class)
class LifecycleStoreContractTest extends StoreFixture {
    static final TenantId A = TenantId.of(ACME);
    static final TenantId G = TenantId.of(GLOBEX);
    static final String OWNER = "ow-0123456789abcdef";
    final LifecycleStore store = new LifecycleStore();

    private LifecycleStore.Export export(TenantId t, String id) {
        return sql((Handle h) -> store.export(h, t, OWNER, id)).orElseThrow();
    }

    private void start(TenantId t, String id) {
        sql((Handle h) -> {
            store.insertExport(h, t, OWNER, id, 1000);
            return null;
        });
    }

    @Test
    void retention_is_unset_until_set_then_replaced() {
        assertThat(sql((Handle h) -> store.retentionDays(h, A))).isEmpty();
        sql((Handle h) -> {
            store.setRetentionDays(h, A, 30, 1000);
            store.setRetentionDays(h, A, 7, 2000);
            return null;
        });
        assertThat(sql((Handle h) -> store.retentionDays(h, A))).contains(7);
    }

    @Test
    void an_export_runs_with_progress_then_is_done() {
        start(A, "ex-1");
        LifecycleStore.Export e = export(A, "ex-1");
        assertThat(e.state()).isEqualTo(ExportState.RUNNING);
        assertThat(e.tenant()).isEqualTo(A);
        assertThat(e.ownerId()).isEqualTo(OWNER);
        assertThat(e.finishedMs()).isNull();
        sql((Handle h) -> {
            store.setRowsTotal(h, A, "ex-1", 10);
            store.setRowsDone(h, A, "ex-1", 4);
            return null;
        });
        assertThat(export(A, "ex-1").rowsTotal()).isEqualTo(10);
        assertThat(export(A, "ex-1").rowsDone()).isEqualTo(4);
        assertThat(sql((Handle h) -> store.finish(h, A, "ex-1", 10, 3000))).isTrue();
        e = export(A, "ex-1");
        assertThat(e.state()).isEqualTo(ExportState.DONE);
        assertThat(e.rowsDone()).isEqualTo(10);
        assertThat(e.finishedMs()).isEqualTo(3000L);
        assertThat(count("SELECT COUNT(*) FROM exports WHERE state = 'done'")).as("stored by its wire name").isEqualTo(1);
        // a finished export whose file is gone becomes failed; a running one does not through this path
        start(A, "ex-2");
        assertThat(sql((Handle h) -> store.failDone(h, A, "ex-2"))).isFalse();
        assertThat(sql((Handle h) -> store.failDone(h, A, "ex-1"))).isTrue();
        assertThat(export(A, "ex-1").state()).isEqualTo(ExportState.FAILED);
        sql((Handle h) -> {
            store.fail(h, A, "ex-2", 4000);
            return null;
        });
        assertThat(export(A, "ex-2").state()).isEqualTo(ExportState.FAILED);
        assertThat(export(A, "ex-2").finishedMs()).isEqualTo(4000L);
        assertThat(sql((Handle h) -> store.exportIds(h, A, OWNER))).containsExactlyInAnyOrder("ex-1", "ex-2");
        assertThat(sql((Handle h) -> store.deleteExports(h, A, OWNER))).isEqualTo(2);
        assertThat(sql((Handle h) -> store.finish(h, A, "ex-1", 1, 5000))).as("a deleted export is not finished").isFalse();
    }

    @Test
    void another_tenant_never_reads_or_changes_an_export_or_the_retention() {
        sql((Handle h) -> {
            store.setRetentionDays(h, A, 30, 1000);
            return null;
        });
        start(A, "ex-1");
        assertThat(sql((Handle h) -> store.retentionDays(h, G))).isEmpty();
        assertThat(sql((Handle h) -> store.export(h, G, OWNER, "ex-1"))).isEmpty();
        assertThat(sql((Handle h) -> store.exportIds(h, G, OWNER))).isEmpty();
        sql((Handle h) -> {
            store.setRowsTotal(h, G, "ex-1", 99);
            store.setRowsDone(h, G, "ex-1", 99);
            store.fail(h, G, "ex-1", 2000);
            store.setRetentionDays(h, G, 5, 2000);
            return null;
        });
        assertThat(sql((Handle h) -> store.finish(h, G, "ex-1", 99, 2000))).isFalse();
        assertThat(sql((Handle h) -> store.failDone(h, G, "ex-1"))).isFalse();
        assertThat(sql((Handle h) -> store.deleteExports(h, G, OWNER))).isZero();
        LifecycleStore.Export e = export(A, "ex-1");
        assertThat(e.state()).isEqualTo(ExportState.RUNNING);
        assertThat(e.rowsTotal()).isZero();
        assertThat(e.rowsDone()).isZero();
        assertThat(sql((Handle h) -> store.retentionDays(h, A))).contains(30);
    }
}
