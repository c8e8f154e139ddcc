package dev.bulwark.server.identity;

import static org.assertj.core.api.Assertions.assertThat;

import dev.bulwark.server.crypto.BearerSecret;
import dev.bulwark.server.testkit.Backend;
import dev.bulwark.server.testkit.StoreContract;
import java.util.EnumSet;
import org.junit.jupiter.api.BeforeEach;
import org.jdbi.v3.core.Handle;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedClass;
import org.junit.jupiter.params.provider.EnumSource;

@ParameterizedClass
@EnumSource(Backend.class)
class ApiTokenStoreContractTest extends StoreContract {
    final ApiTokenStore store = new ApiTokenStore();
    final BearerSecret secret = BearerSecret.generate(BearerSecret.OPERATOR);

    @BeforeEach
    void operators() {
        tx((Handle h) -> {
            new OperatorStore().create(h, "acme", "alice", EnumSet.of(Role.TENANT_ADMIN), 1);
            new OperatorStore().create(h, "globex", "alice", EnumSet.of(Role.AUDITOR), 1);
            return null;
        });
    }

    @Test
    void a_token_is_stored_hashed_read_listed_and_revoked_once() {
        var info = tx((Handle h) -> store.insert(h, "acme", "alice", secret, 5, 100));
        assertThat(info.expiresMs()).isEqualTo(105);
        assertThat(tx((Handle h) -> store.find(h, "acme", secret.id()))).contains(info);
        assertThat(tx((Handle h) -> store.findAnyScope(h, secret.id()))).contains(info);
        assertThat(tx((Handle h) -> store.list(h, "acme", null))).containsExactly(info);
        assertThat(tx((Handle h) -> store.list(h, "acme", "alice"))).containsExactly(info);
        assertThat(tx((Handle h) -> store.list(h, "acme", "bob"))).isEmpty();
        var presented = tx((Handle h) -> store.findForAuthentication(h, secret.id())).orElseThrow();
        assertThat(presented.info()).isEqualTo(info);
        assertThat(secret.matches(presented.secretSha256())).isTrue();
        assertThat(Role.decode(presented.operatorRoles())).containsExactly(Role.TENANT_ADMIN);
        assertThat(tx((Handle h) -> store.revoke(h, "acme", secret.id(), 9))).isTrue();
        assertThat(tx((Handle h) -> store.revoke(h, "acme", secret.id(), 10))).isFalse();
        assertThat(tx((Handle h) -> store.find(h, "acme", secret.id())).orElseThrow().revokedMs()).isEqualTo(9);
    }

    @Test
    void revoking_an_operators_other_tokens_keeps_the_one_named() {
        BearerSecret second = BearerSecret.generate(BearerSecret.OPERATOR);
        BearerSecret third = BearerSecret.generate(BearerSecret.OPERATOR);
        tx((Handle h) -> {
            store.insert(h, "acme", "alice", secret, 5, 100);
            store.insert(h, "acme", "alice", second, 6, 100);
            store.insert(h, "acme", "alice", third, 7, 100);
            return null;
        });
        assertThat(tx((Handle h) -> store.revokeOthers(h, "acme", "alice", third.id(), 9))).isEqualTo(2);
        assertThat(tx((Handle h) -> store.list(h, "acme", "alice"))).extracting(ApiTokens.TokenInfo::revokedMs).containsExactly(9L, 9L, null);
    }

    @Test
    void another_tenant_never_reads_or_revokes_the_token() {
        tx((Handle h) -> store.insert(h, "acme", "alice", secret, 5, 100));
        assertThat(tx((Handle h) -> store.find(h, "globex", secret.id()))).isEmpty();
        assertThat(tx((Handle h) -> store.list(h, "globex", null))).isEmpty();
        assertThat(tx((Handle h) -> store.list(h, "globex", "alice"))).isEmpty();
        assertThat(tx((Handle h) -> store.revoke(h, "globex", secret.id(), 9))).isFalse();
        assertThat(tx((Handle h) -> store.revokeOthers(h, "globex", "alice", "0000000000000000", 9))).isZero();
        assertThat(tx((Handle h) -> store.find(h, "acme", secret.id())).orElseThrow().revokedMs()).isNull();
        // the token names its own scope when presented, whatever operator names other tenants have
        assertThat(tx((Handle h) -> store.findForAuthentication(h, secret.id())).orElseThrow().info().scope()).isEqualTo("acme");
    }
}
