package dev.bulwark.server.pki;

import static org.assertj.core.api.Assertions.assertThat;

import dev.bulwark.protocol.DeviceId;
import dev.bulwark.server.crypto.BearerSecret;
import dev.bulwark.server.device.EstService;
import dev.bulwark.server.testkit.Backend;
import dev.bulwark.server.testkit.StoreContract;
import org.jdbi.v3.core.Handle;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedClass;
import org.junit.jupiter.params.provider.EnumSource;

@ParameterizedClass
@EnumSource(Backend.class)
class EnrollmentTokenStoreContractTest extends StoreContract {
    static final DeviceId THERMO = DeviceId.of("thermo-1");
    final EnrollmentTokenStore store = new EnrollmentTokenStore();
    final BearerSecret secret = EstService.newEnrollmentSecret();

    @BeforeEach
    void devices() {
        device(ACME, "thermo-1");
        device(GLOBEX, "thermo-1");
    }

    @Test
    void a_token_is_stored_hashed_found_by_its_id_and_consumed_once() {
        var created = tx((Handle h) -> store.create(h, ACME, THERMO, secret, "operator:acme/ops", 5, 60_000));
        var found = tx((Handle h) -> store.findForEnrollment(h, secret.id())).orElseThrow();
        assertThat(found).isEqualTo(created);
        assertThat(found.tenant()).isEqualTo(ACME);
        assertThat(found.device()).isEqualTo(THERMO);
        assertThat(found.expiresMs()).isEqualTo(60_005);
        assertThat(found.secretSha256()).isNotEqualTo(secret.reveal());
        assertThat(secret.matches(found.secretSha256())).isTrue();
        assertThat(found.usedMs()).isNull();

        assertThat(tx((Handle h) -> store.lock(h, ACME, secret.id()))).contains(created);
        assertThat(tx((Handle h) -> store.consume(h, ACME, secret.id(), "0a", 9))).isTrue();
        assertThat(tx((Handle h) -> store.consume(h, ACME, secret.id(), "0b", 10))).isFalse();
        var used = tx((Handle h) -> store.findForEnrollment(h, secret.id())).orElseThrow();
        assertThat(used.usedMs()).isEqualTo(9);
        assertThat(used.usedSerial()).isEqualTo("0a");
    }

    @Test
    void an_unknown_token_is_not_found() {
        assertThat(tx((Handle h) -> store.findForEnrollment(h, secret.id()))).isEmpty();
    }

    @Test
    void another_tenant_never_locks_or_consumes_the_token() {
        tx((Handle h) -> store.create(h, ACME, THERMO, secret, "operator:acme/ops", 5, 60_000));
        assertThat(tx((Handle h) -> store.lock(h, GLOBEX, secret.id()))).isEmpty();
        assertThat(tx((Handle h) -> store.consume(h, GLOBEX, secret.id(), "0a", 9))).isFalse();
        assertThat(tx((Handle h) -> store.findForEnrollment(h, secret.id())).orElseThrow().usedMs()).isNull();
    }
}
