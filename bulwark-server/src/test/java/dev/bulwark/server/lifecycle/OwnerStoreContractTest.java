package dev.bulwark.server.lifecycle;

import static org.assertj.core.api.Assertions.assertThat;

import dev.bulwark.protocol.TenantId;
import dev.bulwark.server.testkit.Backend;
import dev.bulwark.server.testkit.StoreFixture;
import org.jdbi.v3.core.Handle;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedClass;
import org.junit.jupiter.params.provider.EnumSource;

/** The contract of {@link OwnerStore} on every backend: owner rows, account deletion, tenant isolation. */
@ParameterizedClass
@EnumSource(Backend.class)
class OwnerStoreContractTest extends StoreFixture {
    static final TenantId A = TenantId.of(ACME);
    static final TenantId G = TenantId.of(GLOBEX);
    static final String OWNER = "ow-0123456789abcdef";
    final OwnerStore store = new OwnerStore();

    @BeforeEach
    void owner() {
        sql((Handle h) -> {
            store.insert(h, new OwnerStore.Owner(OWNER, A, "key-1", new byte[] {7, 8, 9}, 1000));
            for (String t : new String[] {ACME, GLOBEX}) { // the owner's operator account and token, and a namesake in the other tenant
                h.createUpdate("INSERT INTO operators (tenant_id, name, roles, created_ms) VALUES (:t, :o, 'owner', 0)").bind("t", t)
                        .bind("o", OWNER).execute();
                h.createUpdate("INSERT INTO api_tokens (id, tenant_id, operator_name, secret_sha256, created_ms, expires_ms) "
                        + "VALUES (:id, :t, :o, 'x', 0, 1)").bind("id", "tok-" + t).bind("t", t).bind("o", OWNER).execute();
            }
            return null;
        });
    }

    @Test
    void an_owner_is_stored_found_locked_and_deleted_with_its_account() {
        assertThat(sql((Handle h) -> store.exists(h, A, OWNER))).isTrue();
        assertThat(sql((Handle h) -> store.lock(h, A, OWNER))).isTrue();
        assertThat(sql((Handle h) -> store.lockKey(h, A, OWNER))).contains("key-1");
        OwnerStore.Owner o = sql((Handle h) -> store.find(h, A, OWNER)).orElseThrow();
        assertThat(o.keyId()).isEqualTo("key-1");
        assertThat(o.sealedProfile()).containsExactly(7, 8, 9);
        assertThat(o.createdMs()).isEqualTo(1000);
        sql((Handle h) -> {
            store.delete(h, A, OWNER);
            return null;
        });
        assertThat(sql((Handle h) -> store.exists(h, A, OWNER))).isFalse();
        assertThat(count("SELECT COUNT(*) FROM operators WHERE tenant_id = 'acme'")).isZero();
        assertThat(count("SELECT COUNT(*) FROM api_tokens WHERE tenant_id = 'acme'")).isZero();
    }

    @Test
    void another_tenant_never_reads_or_deletes_an_owner() {
        assertThat(sql((Handle h) -> store.exists(h, G, OWNER))).isFalse();
        assertThat(sql((Handle h) -> store.lock(h, G, OWNER))).isFalse();
        assertThat(sql((Handle h) -> store.lockKey(h, G, OWNER))).isEmpty();
        assertThat(sql((Handle h) -> store.find(h, G, OWNER))).isEmpty();
        sql((Handle h) -> {
            store.delete(h, G, OWNER);
            return null;
        });
        assertThat(sql((Handle h) -> store.exists(h, A, OWNER))).isTrue();
        assertThat(count("SELECT COUNT(*) FROM operators WHERE tenant_id = 'acme'")).isEqualTo(1);
        assertThat(count("SELECT COUNT(*) FROM api_tokens WHERE tenant_id = 'acme'")).isEqualTo(1);
    }
}
