package dev.bulwark.server.cluster;

import static org.assertj.core.api.Assertions.assertThat;

import dev.bulwark.protocol.DeviceId;
import dev.bulwark.protocol.TenantId;
import dev.bulwark.server.testkit.Backend;
import dev.bulwark.server.testkit.StoreContract;
import java.util.ArrayList;
import java.util.List;
import org.jdbi.v3.core.Handle;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedClass;
import org.junit.jupiter.params.provider.EnumSource;

/** The device leases a node believes it holds, checked against the table in batches. */
@ParameterizedClass
@EnumSource(Backend.class)
class LeaseStoreContractTest extends StoreContract {
    final LeaseStore store = new LeaseStore();

    long acquire(TenantId tenant, String device, String node) {
        return tx((Handle h) -> store.acquire(h, tenant, DeviceId.of(device), node, "s", "127.0.0.1:1", 5)).lease().epoch();
    }

    static LeaseStore.Claim claim(TenantId tenant, String device, long epoch) {
        return new LeaseStore.Claim(tenant, DeviceId.of(device), epoch);
    }

    @Test
    void the_leases_a_node_no_longer_holds_are_found_with_the_devices_lease_now() {
        long kept = acquire(ACME, "kept", "node-1");
        long superseded = acquire(ACME, "moved", "node-1");
        long later = acquire(ACME, "moved", "node-2");
        long released = acquire(ACME, "ended", "node-1");
        tx((Handle h) -> store.release(h, ACME, DeviceId.of("ended"), "node-1", released));
        long renewed = acquire(ACME, "renewed", "node-1");
        acquire(ACME, "renewed", "node-1"); // a later session of the device on the same node
        List<LeaseStore.Claim> claims = List.of(claim(ACME, "kept", kept), claim(ACME, "moved", superseded),
                claim(ACME, "ended", released), claim(ACME, "renewed", renewed), claim(ACME, "never", 1),
                claim(GLOBEX, "kept", kept)); // another tenant's device of the same name has no lease
        List<LeaseStore.Lost> lost = tx((Handle h) -> store.lost(h, "node-1", claims));
        assertThat(lost).extracting(l -> l.claim().device().value() + "@" + l.claim().tenant())
                .containsExactlyInAnyOrder("moved@acme", "ended@acme", "renewed@acme", "never@acme", "kept@globex");
        LeaseStore.Lost moved = lost.stream().filter(l -> l.claim().device().value().equals("moved")).findFirst().orElseThrow();
        assertThat(moved.current()).hasValueSatisfying(l -> {
            assertThat(l.node()).isEqualTo("node-2");
            assertThat(l.epoch()).isEqualTo(later);
            assertThat(l.source()).isEqualTo("127.0.0.1:1");
        });
        LeaseStore.Lost ended = lost.stream().filter(l -> l.claim().device().value().equals("ended")).findFirst().orElseThrow();
        assertThat(ended.current()).hasValueSatisfying(l -> assertThat(l.node()).isEmpty());
        assertThat(lost.stream().filter(l -> l.claim().device().value().equals("never")).findFirst().orElseThrow().current()).isEmpty();
        assertThat(tx((Handle h) -> store.lost(h, "node-2", List.of(claim(ACME, "moved", later))))).isEmpty();
    }

    @Test
    void more_claims_than_one_query_takes_are_checked_in_batches() {
        long epoch = acquire(ACME, "kept", "node-1");
        List<LeaseStore.Claim> claims = new ArrayList<>();
        for (int i = 0; i < LeaseStore.CLAIMS_PER_QUERY * 2 + 3; i++) {
            claims.add(i % 700 == 1 ? claim(ACME, "none-" + i, 1) : claim(ACME, "kept", epoch));
        }
        assertThat(tx((Handle h) -> store.lost(h, "node-1", claims))).extracting(l -> l.claim().device().value())
                .containsExactly("none-1", "none-701", "none-1401");
        assertThat(tx((Handle h) -> store.lost(h, "node-1", List.of()))).isEmpty();
    }
}
