package dev.bulwark.server.pki;

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

@ParameterizedClass
@EnumSource(Backend.class)
class TenantCaStoreContractTest extends StoreContract {
    final TenantCaStore store = new TenantCaStore();

    static TenantCaStore.TenantCa ca(TenantId tenant, String id, String subject) {
        return new TenantCaStore.TenantCa(id, tenant.value(), subject, "fp-" + id, "kfp-" + id, 1_000, CaStatus.ACTIVE, 5, "PEM " + id);
    }

    @Test
    void a_ca_is_stored_read_listed_and_revoked_once() {
        var ca = ca(ACME, "ca-1", "CN=Acme Factory");
        tx((Handle h) -> {
            store.insert(h, ca);
            return null;
        });
        assertThat(tx((Handle h) -> store.find(h, ACME, "ca-1"))).contains(ca);
        assertThat(tx((Handle h) -> store.list(h, ACME))).containsExactly(ca);
        assertThat(tx((Handle h) -> store.active(h, ACME))).containsExactly(ca);
        assertThat(tx((Handle h) -> store.fingerprintRegistered(h, "fp-ca-1", "other"))).isTrue();
        assertThat(tx((Handle h) -> store.fingerprintRegistered(h, "other", "kfp-ca-1"))).isTrue();
        assertThat(tx((Handle h) -> store.revoke(h, ACME, "ca-1", 7))).isTrue();
        assertThat(tx((Handle h) -> store.revoke(h, ACME, "ca-1", 8))).isFalse();
        assertThat(tx((Handle h) -> store.find(h, ACME, "ca-1")).orElseThrow().status()).isEqualTo(CaStatus.REVOKED);
        assertThat(tx((Handle h) -> store.active(h, ACME))).isEmpty();
        // a revoked CA's key may be registered again; the same certificate may not
        assertThat(tx((Handle h) -> store.fingerprintRegistered(h, "other", "kfp-ca-1"))).isFalse();
        assertThat(tx((Handle h) -> store.fingerprintRegistered(h, "fp-ca-1", "other"))).isTrue();
    }

    @Test
    void a_device_certificates_issuer_finds_the_cas_of_every_tenant_with_that_subject() {
        tx((Handle h) -> {
            store.insert(h, ca(ACME, "ca-1", "CN=Shared Name"));
            store.insert(h, ca(GLOBEX, "ca-2", "CN=Shared Name"));
            store.insert(h, ca(GLOBEX, "ca-3", "CN=Other"));
            return null;
        });
        assertThat(tx((Handle h) -> store.bySubject(h, "CN=Shared Name"))).extracting(TenantCaStore.TenantCa::id).containsExactly("ca-1", "ca-2");
        assertThat(tx((Handle h) -> store.bySubject(h, "CN=Nobody"))).isEmpty();
    }

    @Test
    void a_challenge_is_consumed_once_and_only_before_it_expires() {
        tx((Handle h) -> {
            store.createChallenge(h, ACME, "bulwark-pop-1", 5, 100);
            store.createChallenge(h, ACME, "bulwark-pop-2", 5, 100);
            store.consumeChallenge(h, ACME, "bulwark-pop-1", 50);
            return null;
        });
        assertThatThrownBy(() -> tx((Handle h) -> {
            store.consumeChallenge(h, ACME, "bulwark-pop-1", 60);
            return null;
        })).isInstanceOf(Refusal.class);
        assertThatThrownBy(() -> tx((Handle h) -> {
            store.consumeChallenge(h, ACME, "bulwark-pop-2", 100);
            return null;
        })).isInstanceOf(Refusal.class);
    }

    @Test
    void another_tenant_never_reads_revokes_or_consumes_what_is_not_its_own() {
        tx((Handle h) -> {
            store.insert(h, ca(ACME, "ca-1", "CN=Acme Factory"));
            store.createChallenge(h, ACME, "bulwark-pop-1", 5, 100);
            return null;
        });
        assertThat(tx((Handle h) -> store.find(h, GLOBEX, "ca-1"))).isEmpty();
        assertThat(tx((Handle h) -> store.list(h, GLOBEX))).isEmpty();
        assertThat(tx((Handle h) -> store.active(h, GLOBEX))).isEmpty();
        assertThat(tx((Handle h) -> store.revoke(h, GLOBEX, "ca-1", 7))).isFalse();
        assertThat(tx((Handle h) -> store.find(h, ACME, "ca-1")).orElseThrow().status()).isEqualTo(CaStatus.ACTIVE);
        assertThatThrownBy(() -> tx((Handle h) -> {
            store.consumeChallenge(h, GLOBEX, "bulwark-pop-1", 50);
            return null;
        })).isInstanceOf(Refusal.class);
        tx((Handle h) -> {
            store.consumeChallenge(h, ACME, "bulwark-pop-1", 50); // still open for its own tenant
            return null;
        });
    }
}
