package dev.bulwark.server.identity;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import dev.bulwark.server.core.Refusal;
import dev.bulwark.server.testkit.Backend;
import dev.bulwark.server.testkit.StoreContract;
import java.util.EnumSet;
import org.jdbi.v3.core.Handle;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedClass;
import org.junit.jupiter.params.provider.EnumSource;

@ParameterizedClass
@EnumSource(Backend.class)
class OperatorStoreContractTest extends StoreContract {
    final OperatorStore store = new OperatorStore();

    @Test
    void an_operator_is_created_read_and_listed_with_its_roles() {
        var alice = tx((Handle h) -> store.create(h, "acme", "alice", EnumSet.of(Role.TENANT_ADMIN, Role.AUDITOR), 5));
        tx((Handle h) -> store.create(h, "acme", "bob", EnumSet.of(Role.FLEET_OPERATOR), 6));
        assertThat(tx((Handle h) -> store.find(h, "acme", "alice"))).contains(alice);
        assertThat(tx((Handle h) -> store.list(h, "acme"))).extracting(OperatorStore.Operator::name).containsExactly("alice", "bob");
        assertThat(tx((Handle h) -> store.anyInScope(h, "acme"))).isTrue();
        assertThat(tx((Handle h) -> store.anyInScope(h, OperatorPrincipal.PLATFORM_SCOPE))).isFalse();
    }

    @Test
    void an_operator_name_is_taken_once_per_scope() {
        tx((Handle h) -> store.create(h, "acme", "alice", EnumSet.of(Role.AUDITOR), 5));
        assertThatThrownBy(() -> tx((Handle h) -> store.create(h, "acme", "alice", EnumSet.of(Role.TENANT_ADMIN), 6)))
                .isInstanceOfSatisfying(Refusal.class, r -> assertThat(r.kind()).isEqualTo(Refusal.Kind.CONFLICT));
        assertThat(tx((Handle h) -> store.find(h, "acme", "alice")).orElseThrow().roles()).containsExactly(Role.AUDITOR);
    }

    @Test
    void another_tenant_never_reads_the_operator_and_has_its_own_names() {
        tx((Handle h) -> store.create(h, "acme", "alice", EnumSet.of(Role.TENANT_ADMIN), 5));
        assertThat(tx((Handle h) -> store.find(h, "globex", "alice"))).isEmpty();
        assertThat(tx((Handle h) -> store.list(h, "globex"))).isEmpty();
        assertThat(tx((Handle h) -> store.anyInScope(h, "globex"))).isFalse();
        tx((Handle h) -> store.create(h, "globex", "alice", EnumSet.of(Role.AUDITOR), 6));
        assertThat(tx((Handle h) -> store.find(h, "acme", "alice")).orElseThrow().roles()).containsExactly(Role.TENANT_ADMIN);
        assertThat(tx((Handle h) -> store.find(h, "globex", "alice")).orElseThrow().roles()).containsExactly(Role.AUDITOR);
    }
}
