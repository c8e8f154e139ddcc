package dev.bulwark.server.firmware;

import static org.assertj.core.api.Assertions.assertThat;

import dev.bulwark.protocol.TenantId;
import dev.bulwark.server.testkit.Backend;
import dev.bulwark.server.testkit.StoreFixture;
import java.util.List;
import org.jdbi.v3.core.Handle;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedClass;
import org.junit.jupiter.params.provider.EnumSource;

/** The contract of {@link FirmwareStore} on every backend: roots, releases, sealed chunks, tenant isolation. */
@ParameterizedClass
@EnumSource(Backend.class)
class FirmwareStoreContractTest extends StoreFixture {
    static final TenantId A = TenantId.of(ACME);
    static final TenantId G = TenantId.of(GLOBEX);
    final FirmwareStore store = new FirmwareStore();

    static FirmwareService.Release release(TenantId t, String id, long versionNumber, long created) {
        return new FirmwareService.Release(id, t, "thermo", "1." + versionNumber, versionNumber, "ab".repeat(32), 10, "{\"targets\":1}",
                created, "publisher");
    }

    private void insert(FirmwareService.Release r) {
        sql((Handle h) -> {
            store.insertRelease(h, r, new byte[] {1, 2}, new byte[] {3, 4}, FirmwareService.CHUNK);
            store.insertChunks(h, r.id(), 0, List.of(new byte[] {10}, new byte[] {11}));
            store.insertChunks(h, r.id(), 2, List.of(new byte[] {12}));
            return null;
        });
    }

    @Test
    void roots_form_a_chain_and_the_newest_is_current() {
        assertThat(sql((Handle h) -> store.currentRoot(h, A))).isEmpty();
        sql((Handle h) -> {
            store.insertRoot(h, A, 1, "root-1", 1000, "admin");
            store.insertRoot(h, A, 2, "root-2", 2000, "admin");
            return null;
        });
        assertThat(sql((Handle h) -> store.currentRoot(h, A))).contains("root-2");
        assertThat(sql((Handle h) -> store.rootChain(h, A))).containsExactly("root-1", "root-2");
    }

    @Test
    void a_release_is_stored_with_its_sealing_and_chunks() {
        assertThat(sql((Handle h) -> store.newestVersionNumber(h, A, "thermo"))).isNull();
        insert(release(A, "fw-1", 3, 1000));
        insert(release(A, "fw-2", 7, 2000));
        assertThat(sql((Handle h) -> store.newestVersionNumber(h, A, "thermo"))).isEqualTo(7L);
        assertThat(sql((Handle h) -> store.release(h, A, "fw-1"))).contains(release(A, "fw-1", 3, 1000));
        assertThat(sql((Handle h) -> store.releases(h, A))).extracting(FirmwareService.Release::id).containsExactly("fw-2", "fw-1");
        FirmwareStore.Sealing s = sql((Handle h) -> store.sealing(h, A, "fw-1")).orElseThrow();
        assertThat(s.wrappedKey()).containsExactly(1, 2);
        assertThat(s.nonce()).containsExactly(3, 4);
        assertThat(s.length()).isEqualTo(10);
        assertThat(s.chunkSize()).isEqualTo(FirmwareService.CHUNK);
        assertThat(sql((Handle h) -> store.chunks(h, A, "fw-1", 1, 2))).extracting(FirmwareStore.Chunk::idx).containsExactly(1, 2);
        assertThat(sql((Handle h) -> store.chunks(h, A, "fw-1", 0, 0)).get(0).sealed()).containsExactly(10);
        assertThat(sql((Handle h) -> store.wholeImage(h, A, "fw-1")).orElseThrow()).isEmpty();
    }

    @Test
    void another_tenant_never_reads_a_root_a_release_or_its_image() {
        sql((Handle h) -> {
            store.insertRoot(h, A, 1, "root-1", 1000, "admin");
            return null;
        });
        insert(release(A, "fw-1", 3, 1000));
        assertThat(sql((Handle h) -> store.currentRoot(h, G))).isEmpty();
        assertThat(sql((Handle h) -> store.rootChain(h, G))).isEmpty();
        assertThat(sql((Handle h) -> store.newestVersionNumber(h, G, "thermo"))).isNull();
        assertThat(sql((Handle h) -> store.release(h, G, "fw-1"))).isEmpty();
        assertThat(sql((Handle h) -> store.releases(h, G))).isEmpty();
        assertThat(sql((Handle h) -> store.sealing(h, G, "fw-1"))).isEmpty();
        assertThat(sql((Handle h) -> store.wholeImage(h, G, "fw-1"))).isEmpty();
        assertThat(sql((Handle h) -> store.chunks(h, G, "fw-1", 0, 10))).isEmpty();
        // the other tenant's own root chain starts at its own version 1
        sql((Handle h) -> {
            store.insertRoot(h, G, 1, "globex-root-1", 1000, "admin");
            return null;
        });
        assertThat(sql((Handle h) -> store.rootChain(h, A))).containsExactly("root-1");
    }
}
