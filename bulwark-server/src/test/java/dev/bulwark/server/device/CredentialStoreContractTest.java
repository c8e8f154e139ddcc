package dev.bulwark.server.device;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import dev.bulwark.protocol.DeviceId;
import dev.bulwark.protocol.TenantId;
import dev.bulwark.server.core.Refusal;
import dev.bulwark.server.crypto.BearerSecret;
import dev.bulwark.server.pki.CaStatus;
import dev.bulwark.server.pki.TenantCaStore;
import dev.bulwark.server.testkit.Backend;
import dev.bulwark.server.testkit.StoreContract;
import java.util.List;
import java.util.Map;
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

    static CredentialStore.SessionKey session(TenantId tenant, String device, String credential) {
        return new CredentialStore.SessionKey(tenant, DeviceId.of(device), credential);
    }

    @Test
    void the_live_sessions_a_connect_would_refuse_now_are_found_in_one_query_with_the_authenticators_reasons() {
        BearerSecret good = BearerSecret.generate(BearerSecret.DEVICE);
        BearerSecret revoked = BearerSecret.generate(BearerSecret.DEVICE);
        BearerSecret expired = BearerSecret.generate(BearerSecret.DEVICE);
        for (String d : List.of("quarantined", "disabled", "deleted", "tokens", "factory", "factory-old")) {
            device(ACME, d);
        }
        tx((Handle h) -> {
            DeviceStore devices = new DeviceStore();
            devices.setStatus(h, ACME, DeviceId.of("quarantined"), DeviceStatus.QUARANTINED, 5);
            devices.setStatus(h, ACME, DeviceId.of("disabled"), DeviceStatus.DISABLED, 5);
            devices.setStatus(h, ACME, DeviceId.of("deleted"), DeviceStatus.DELETED, 5);
            store.insertCertificate(h, certificate(ACME, "0a", "key-1"), 5); // valid from 10 to 1000
            store.insertCertificate(h, certificate(ACME, "0b", "key-2"), 5);
            store.revokeCertificate(h, ACME, THERMO, "0b", "lost", 6);
            store.issueToken(h, ACME, DeviceId.of("tokens"), good, 5, 10_000);
            store.issueToken(h, ACME, DeviceId.of("tokens"), revoked, 5, 10_000);
            store.revokeToken(h, ACME, DeviceId.of("tokens"), revoked.id(), 6);
            store.issueToken(h, ACME, DeviceId.of("tokens"), expired, 5, 10);
            TenantCaStore cas = new TenantCaStore();
            cas.insert(h, new TenantCaStore.TenantCa("ca-live", "acme", "CN=F", "fp-1", "kfp-1", 10_000, CaStatus.ACTIVE, 5, "PEM"));
            cas.insert(h, new TenantCaStore.TenantCa("ca-old", "acme", "CN=G", "fp-2", "kfp-2", 10_000, CaStatus.ACTIVE, 5, "PEM"));
            cas.revoke(h, ACME, "ca-old", 6);
            store.insertCertificate(h, new CredentialStore.CertificateRecord("acme", "factory", "f1", "ca-live", "fp-f1", "key-f1",
                    "CN=factory", 10, 10_000, CertificateStatus.ACTIVE, null, null, "PEM"), 5);
            store.insertCertificate(h, new CredentialStore.CertificateRecord("acme", "factory-old", "f2", "ca-old", "fp-f2", "key-f2",
                    "CN=factory-old", 10, 10_000, CertificateStatus.ACTIVE, null, null, "PEM"), 5);
            return null;
        });
        List<CredentialStore.SessionKey> keys = List.of(
                session(ACME, "thermo-1", "certificate:platform/0a"),
                session(GLOBEX, "thermo-1", "certificate:platform/0a"), // globex's device has no such certificate
                session(ACME, "thermo-1", "certificate:platform/0b"),
                session(ACME, "thermo-1", "certificate:ca-live/0a"), // the certificate was issued by another CA
                session(ACME, "quarantined", "token:whatever"),
                session(ACME, "disabled", "token:whatever"),
                session(ACME, "deleted", "token:whatever"),
                session(ACME, "never-registered", "token:whatever"),
                session(ACME, "tokens", "token:" + good.id()),
                session(ACME, "tokens", "token:" + revoked.id()),
                session(ACME, "tokens", "token:" + expired.id()),
                session(ACME, "thermo-1", "token:" + good.id()), // another device's token
                session(ACME, "factory", "certificate:ca-live/f1"),
                session(ACME, "factory-old", "certificate:ca-old/f2"),
                session(ACME, "tokens", "enrollment-token:e1")); // a kind the registry cannot check: its device decides
        Map<CredentialStore.SessionKey, String> refused = tx((Handle h) -> store.refusedNow(h, keys, 100));
        Map<CredentialStore.SessionKey, String> expected = new java.util.HashMap<>();
        String[] reasons = {null, "certificate-unregistered", "certificate-revoked", "certificate-unregistered", "device-quarantined",
            "device-disabled", "device-unknown", "device-unknown", null, "token-revoked", "token-expired", "token-unknown", null,
            "ca-revoked", null};
        for (int i = 0; i < keys.size(); i++) {
            if (reasons[i] != null) {
                expected.put(keys.get(i), reasons[i]);
            }
        }
        assertThat(refused).containsExactlyInAnyOrderEntriesOf(expected);
        // later, the certificates and the tenant CA are past their validity
        Map<CredentialStore.SessionKey, String> later = tx((Handle h) -> store.refusedNow(h, List.of(keys.get(0), keys.get(12)), 20_000));
        assertThat(later).containsEntry(keys.get(0), "certificate-expired").containsEntry(keys.get(12), "ca-expired");
        // and before their validity began
        assertThat(tx((Handle h) -> store.refusedNow(h, List.of(keys.get(0)), 5))).containsEntry(keys.get(0), "certificate-not-yet-valid");
    }

    @Test
    void more_sessions_than_one_query_takes_are_checked_in_batches() {
        tx((Handle h) -> {
            store.insertCertificate(h, certificate(ACME, "0a", "key-1"), 5);
            return null;
        });
        List<CredentialStore.SessionKey> keys = new java.util.ArrayList<>();
        for (int i = 0; i < CredentialStore.KEYS_PER_QUERY * 2 + 5; i++) {
            keys.add(session(ACME, i % 400 == 7 ? "gone-" + i : "thermo-1", "certificate:platform/0a"));
        }
        Map<CredentialStore.SessionKey, String> refused = tx((Handle h) -> store.refusedNow(h, keys, 100));
        assertThat(refused).hasSize(5).allSatisfy((k, reason) -> {
            assertThat(k.device().value()).startsWith("gone-");
            assertThat(reason).isEqualTo("device-unknown");
        });
        assertThat(tx((Handle h) -> store.refusedNow(h, List.of(), 100))).isEmpty();
    }
}
