package dev.bulwark.server.identity;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import dev.bulwark.protocol.TenantId;
import dev.bulwark.server.core.Refusal;
import dev.bulwark.server.testkit.Backend;
import dev.bulwark.server.testkit.StoreContract;
import org.jdbi.v3.core.Handle;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedClass;
import org.junit.jupiter.params.provider.EnumSource;

/** Tenants are platform data; the rows acme and globex exist from the start (see {@link StoreContract}). */
@ParameterizedClass
@EnumSource(Backend.class)
class TenantStoreContractTest extends StoreContract {
    final TenantStore store = new TenantStore();

    @Test
    void a_tenant_is_created_read_and_listed_in_id_order() {
        var created = tx((Handle h) -> store.create(h, TenantId.of("initech"), "Initech", 7));
        assertThat(tx((Handle h) -> store.find(h, TenantId.of("initech")))).contains(created);
        assertThat(tx((Handle h) -> store.list(h, "", 10))).extracting(TenantStore.Tenant::id).containsExactly("acme", "globex", "initech");
        assertThat(tx((Handle h) -> store.list(h, "acme", 1))).extracting(TenantStore.Tenant::id).containsExactly("globex");
    }

    @Test
    void a_tenant_id_is_taken_once() {
        assertThatThrownBy(() -> tx((Handle h) -> store.create(h, ACME, "Another Acme", 8)))
                .isInstanceOfSatisfying(Refusal.class, r -> assertThat(r.kind()).isEqualTo(Refusal.Kind.CONFLICT));
        assertThat(tx((Handle h) -> store.find(h, ACME)).orElseThrow().name()).isEqualTo("Acme");
    }

    @Test
    void a_tenant_reads_as_itself_only() {
        assertThat(tx((Handle h) -> store.find(h, GLOBEX)).orElseThrow().name()).isEqualTo("Globex");
        assertThat(tx((Handle h) -> store.find(h, TenantId.of("initech")))).isEmpty();
    }
}
