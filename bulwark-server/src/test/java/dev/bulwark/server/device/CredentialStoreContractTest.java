package dev.bulwark.server.device;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import dev.bulwark.protocol.DeviceId;
import dev.bulwark.protocol.TenantId;
import dev.bulwark.server.core.Refusal;
import dev.bulwark.server.crypto.BearerSecret;
import dev.bulwark.server.testkit.Backend;
import dev.bulwark.server.testkit.StoreContract;
import org.jdbi.v3.core.Handle;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedClass;
import org.junit.jupiter.params.provider.EnumSource;

@ParameterizedClass
@EnumSource(Backend.class)
class CredentialStoreContractTest extends StoreContract {
    static final DeviceId THERMO = DeviceId.of("thermo-1");
    final CredentialStore store = new CredentialStore();

    @BeforeEach
    void devices() {
        device(ACME, "thermo-1");
        device(GLOBEX, "thermo-1");
    }

    static CredentialStore.CertificateRecord certificate(TenantId tenant, String serial, String keyFingerprint) {
        return new CredentialStore.CertificateRecord(tenant.value(), THERMO.value(), serial, "platform", "fp-" + tenant + "-" + serial,
                keyFingerprint, "CN=thermo-1", 10, 1_000, CertificateStatus.ACTIVE, null, null, "PEM " + serial);
    }

    @Test
    void a_certificate_is_stored_read_listed_and_revoked_once() {
        var c = certificate(ACME, "0a", "key-1");
        tx((Handle h) -> {
            store.insertCertificate(h, c, 5);
            return null;
        });
        assertThat(tx((Handle h) -> store.certificate(h, ACME, THERMO, "0a"))).contains(c);
        assertThat(tx((Handle h) -> store.certificates(h, ACME, THERMO))).containsExactly(c);
        assertThat(tx((Handle h) -> store.revokeCertificate(h, ACME, THERMO, "0a", "lost", 7))).isTrue();
        assertThat(tx((Handle h) -> store.revokeCertificate(h, ACME, THERMO, "0a", "again", 8))).isFalse();
        var revoked = tx((Handle h) -> store.certificate(h, ACME, THERMO, "0a")).orElseThrow();
        assertThat(revoked.status()).isEqualTo(CertificateStatus.REVOKED);
        assertThat(revoked.revokedMs()).isEqualTo(7);
        assertThat(revoked.revokeReason()).isEqualTo("lost");
    }

    @Test
    void a_token_is_issued_read_with_its_digest_listed_and_revoked_once() {
        BearerSecret secret = BearerSecret.generate(BearerSecret.DEVICE);
        var t = tx((Handle h) -> store.issueToken(h, ACME, THERMO, secret, 5, 100));
        assertThat(t.expiresMs()).isEqualTo(105);
        assertThat(tx((Handle h) -> store.token(h, ACME, THERMO, secret.id()))).contains(t);
        assertThat(tx((Handle h) -> store.tokens(h, ACME, THERMO))).containsExactly(t);
        var withDigest = tx((Handle h) -> store.tokenWithDigest(h, ACME, THERMO, secret.id())).orElseThrow();
        assertThat(withDigest.token()).isEqualTo(t);
        assertThat(secret.matches(withDigest.secretSha256())).isTrue();
        assertThat(tx((Handle h) -> store.revokeToken(h, ACME, THERMO, secret.id(), 9))).isTrue();
        assertThat(tx((Handle h) -> store.revokeToken(h, ACME, THERMO, secret.id(), 10))).isFalse();
        assertThat(tx((Handle h) -> store.token(h, ACME, THERMO, secret.id())).orElseThrow().revokedMs()).isEqualTo(9);
    }

    @Test
    void revoking_all_of_a_device_revokes_its_live_certificates_and_tokens() {
        BearerSecret secret = BearerSecret.generate(BearerSecret.DEVICE);
        tx((Handle h) -> {
            store.insertCertificate(h, certificate(ACME, "0a", "key-1"), 5);
            store.insertCertificate(h, certificate(ACME, "0b", "key-2"), 5);
            store.revokeCertificate(h, ACME, THERMO, "0b", "earlier", 6);
            store.issueToken(h, ACME, THERMO, secret, 5, 100);
            return null;
        });
        assertThat(tx((Handle h) -> store.revokeAll(h, ACME, THERMO, "device deleted", 8))).isEqualTo(2);
        assertThat(tx((Handle h) -> store.certificates(h, ACME, THERMO))).allSatisfy(c -> assertThat(c.status()).isEqualTo(CertificateStatus.REVOKED));
        assertThat(tx((Handle h) -> store.certificate(h, ACME, THERMO, "0b")).orElseThrow().revokeReason()).isEqualTo("earlier");
        assertThat(tx((Handle h) -> store.token(h, ACME, THERMO, secret.id())).orElseThrow().revokedMs()).isEqualTo(8);
    }

    @Test
    void a_key_bound_to_one_device_is_refused_for_any_other_device_of_any_tenant() {
        tx((Handle h) -> {
            store.insertCertificate(h, certificate(ACME, "0a", "key-1"), 5);
            return null;
        });
        tx((Handle h) -> {
            store.requireKeyNotUsedElsewhere(h, ACME, THERMO, "key-1"); // the same device renewing with its key
            return null;
        });
        assertThatThrownBy(() -> tx((Handle h) -> {
            store.requireKeyNotUsedElsewhere(h, GLOBEX, THERMO, "key-1");
            return null;
        })).isInstanceOfSatisfying(Refusal.class, r -> assertThat(r.kind()).isEqualTo(Refusal.Kind.CONFLICT));
    }

    @Test
    void a_presented_certificate_names_its_tenant_by_fingerprint() {
        var c = certificate(GLOBEX, "0a", "key-1");
        tx((Handle h) -> {
            store.insertCertificate(h, c, 5);
            return null;
        });
        assertThat(tx((Handle h) -> store.findCertificateByFingerprint(h, c.fingerprint())).orElseThrow().tenantId()).isEqualTo("globex");
        assertThat(tx((Handle h) -> store.findCertificateByFingerprint(h, "no-such"))).isEmpty();
    }

    @Test
    void another_tenant_never_reads_or_revokes_the_credentials() {
        BearerSecret secret = BearerSecret.generate(BearerSecret.DEVICE);
        tx((Handle h) -> {
            store.insertCertificate(h, certificate(ACME, "0a", "key-1"), 5);
            store.issueToken(h, ACME, THERMO, secret, 5, 100);
            return null;
        });
        assertThat(tx((Handle h) -> store.certificate(h, GLOBEX, THERMO, "0a"))).isEmpty();
        assertThat(tx((Handle h) -> store.certificates(h, GLOBEX, THERMO))).isEmpty();
        assertThat(tx((Handle h) -> store.token(h, GLOBEX, THERMO, secret.id()))).isEmpty();
        assertThat(tx((Handle h) -> store.tokenWithDigest(h, GLOBEX, THERMO, secret.id()))).isEmpty();
        assertThat(tx((Handle h) -> store.tokens(h, GLOBEX, THERMO))).isEmpty();
        assertThat(tx((Handle h) -> store.revokeCertificate(h, GLOBEX, THERMO, "0a", "x", 7))).isFalse();
        assertThat(tx((Handle h) -> store.revokeToken(h, GLOBEX, THERMO, secret.id(), 7))).isFalse();
        assertThat(tx((Handle h) -> store.revokeAll(h, GLOBEX, THERMO, "x", 7))).isZero();
        assertThat(tx((Handle h) -> store.certificate(h, ACME, THERMO, "0a")).orElseThrow().status()).isEqualTo(CertificateStatus.ACTIVE);
        assertThat(tx((Handle h) -> store.token(h, ACME, THERMO, secret.id())).orElseThrow().revokedMs()).isNull();
    }
}
