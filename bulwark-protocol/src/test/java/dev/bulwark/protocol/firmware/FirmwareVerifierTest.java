package dev.bulwark.protocol.firmware;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import com.fasterxml.jackson.databind.node.ObjectNode;
import java.math.BigInteger;
import java.nio.charset.StandardCharsets;
import java.security.KeyPair;
import java.time.Duration;
import java.time.Instant;
import java.util.List;
import org.assertj.core.api.ThrowableAssert;
import org.junit.jupiter.api.Test;

class FirmwareVerifierTest {
    final Instant now = Instant.parse("2026-11-27T00:00:00Z");
    final KeyPair a = ReleaseKeys.generate();
    final KeyPair b = ReleaseKeys.generate();
    final KeyPair c = ReleaseKeys.generate();
    final KeyPair online = ReleaseKeys.generate();
    final Envelope root = sign(Envelope.unsigned(FirmwareMetadata.root("acme", 1, now.plus(Duration.ofDays(365)),
            List.of(a.getPublic(), b.getPublic(), c.getPublic()), 2, List.of(online.getPublic()))), a, b);
    final FirmwareMetadata.Root trusted = FirmwareVerifier.trustRoot(root, now);
    final byte[] image = "firmware image bytes".getBytes(StandardCharsets.UTF_8);

    static Envelope sign(Envelope e, KeyPair... keys) {
        for (KeyPair k : keys) {
            e = e.sign(k.getPrivate(), ReleaseKeys.keyId(k.getPublic()));
        }
        return e;
    }

    Envelope targets(long versionNumber, KeyPair... signers) {
        return sign(Envelope.unsigned(FirmwareMetadata.targets("acme", "thermo", List.of("rev-a", "rev-b"), "1.0." + versionNumber,
                versionNumber, ReleaseKeys.sha256Hex(image), image.length, now.plus(Duration.ofDays(90)))), signers);
    }

    Envelope timestamp(Envelope targets, long versionNumber, Instant expires) {
        return sign(Envelope.unsigned(FirmwareMetadata.timestamp("acme", targets, versionNumber, expires)), online);
    }

    static void rejected(String reason, ThrowableAssert.ThrowingCallable call) {
        assertThatThrownBy(call).isInstanceOf(FirmwareRejected.class).extracting(e -> ((FirmwareRejected) e).reason()).isEqualTo(reason);
    }

    @Test
    void a_release_signed_by_the_threshold_with_a_fresh_timestamp_passes_every_check() {
        Envelope t = targets(7, a, c);
        FirmwareMetadata.Targets ok = FirmwareVerifier.targets(trusted, Envelope.parse(t.toJson()), now);
        FirmwareVerifier.fresh(trusted, timestamp(t, 7, now.plusSeconds(3600)), t, ok, now);
        FirmwareVerifier.installable(ok, "thermo", "rev-b", 6);
        FirmwareVerifier.image(ok, image.length, ReleaseKeys.sha256Hex(image));
    }

    @Test
    void one_rogue_signer_is_not_enough_when_k_is_two_nor_is_the_same_key_twice() {
        rejected("threshold-not-met", () -> FirmwareVerifier.targets(trusted, targets(7, a), now));
        Envelope twice = targets(7, a);
        Envelope doubled = new Envelope(twice.signed(), List.of(twice.signatures().get(0), twice.signatures().get(0)));
        rejected("threshold-not-met", () -> FirmwareVerifier.targets(trusted, doubled, now));
        KeyPair stranger = ReleaseKeys.generate();
        rejected("threshold-not-met", () -> FirmwareVerifier.targets(trusted, targets(7, a, stranger), now));
        // the online key may not sign releases
        rejected("threshold-not-met", () -> FirmwareVerifier.targets(trusted, targets(7, a, online), now));
    }

    @Test
    void altered_metadata_no_longer_verifies() {
        Envelope t = targets(7, a, b);
        ObjectNode changed = t.signed().deepCopy();
        ((ObjectNode) changed.get("image")).put("sha256", ReleaseKeys.sha256Hex("evil".getBytes(StandardCharsets.UTF_8)));
        rejected("threshold-not-met", () -> FirmwareVerifier.targets(trusted, new Envelope(changed, t.signatures()), now));
    }

    @Test
    void rollback_freeze_mixed_metadata_model_hardware_and_image_are_each_refused() {
        Envelope t = targets(7, a, b);
        FirmwareMetadata.Targets ok = FirmwareVerifier.targets(trusted, t, now);
        rejected("rollback", () -> FirmwareVerifier.installable(ok, "thermo", "rev-a", 7));
        rejected("freeze", () -> FirmwareVerifier.fresh(trusted, timestamp(t, 7, now.minusSeconds(1)), t, ok, now));
        Envelope other = targets(8, a, b);
        rejected("mixed-metadata", () -> FirmwareVerifier.fresh(trusted, timestamp(other, 8, now.plusSeconds(60)), t, ok, now));
        rejected("mixed-metadata", () -> FirmwareVerifier.fresh(trusted, timestamp(t, 8, now.plusSeconds(60)), t, ok, now));
        rejected("threshold-not-met", () -> FirmwareVerifier.fresh(trusted, sign(Envelope.unsigned(
                FirmwareMetadata.timestamp("acme", t, 7, now.plusSeconds(60))), a), t, ok, now));
        rejected("model-mismatch", () -> FirmwareVerifier.installable(ok, "valve", "rev-a", 0));
        rejected("hardware-incompatible", () -> FirmwareVerifier.installable(ok, "thermo", "rev-z", 0));
        rejected("length-mismatch", () -> FirmwareVerifier.image(ok, image.length + 1, ReleaseKeys.sha256Hex(image)));
        rejected("digest-mismatch", () -> FirmwareVerifier.image(ok, image.length, ReleaseKeys.sha256Hex("x".getBytes())));
        rejected("expired", () -> FirmwareVerifier.targets(trusted, t, now.plus(Duration.ofDays(91))));
    }

    @Test
    void a_new_root_needs_the_previous_roots_threshold() {
        KeyPair d = ReleaseKeys.generate();
        Envelope next = Envelope.unsigned(FirmwareMetadata.root("acme", 2, now.plus(Duration.ofDays(365)),
                List.of(c.getPublic(), d.getPublic()), 2, List.of(online.getPublic())));
        // signed only by its own keys (c, d): c alone is one of the old threshold of two
        rejected("threshold-not-met", () -> FirmwareVerifier.rotateRoot(trusted, sign(next, c, d), now));
        FirmwareMetadata.Root rotated = FirmwareVerifier.rotateRoot(trusted, sign(next, a, c, d), now);
        assertThat(rotated.version()).isEqualTo(2);
        rejected("root-not-trusted", () -> FirmwareVerifier.rotateRoot(rotated, sign(next, a, c, d), now));
        // releases signed by the retired keys no longer count
        rejected("threshold-not-met", () -> FirmwareVerifier.targets(rotated, targets(9, a, b), now));
        FirmwareVerifier.targets(rotated, targets(9, c, d), now);
    }

    @Test
    void an_expired_intermediate_root_can_be_walked_but_the_last_root_must_be_current_and_keep_its_roles_apart() {
        KeyPair d = ReleaseKeys.generate();
        Envelope shortLived = sign(Envelope.unsigned(FirmwareMetadata.root("acme", 2, now.plusSeconds(60),
                List.of(a.getPublic(), b.getPublic()), 2, List.of(online.getPublic()))), a, b);
        FirmwareMetadata.Root two = FirmwareVerifier.rotateRoot(trusted, shortLived, now.plusSeconds(3600));
        rejected("expired", () -> FirmwareVerifier.rootCurrent(two, now.plusSeconds(3600)));
        Envelope three = sign(Envelope.unsigned(FirmwareMetadata.root("acme", 3, now.plus(Duration.ofDays(365)),
                List.of(a.getPublic(), d.getPublic()), 2, List.of(online.getPublic()))), a, b, d);
        FirmwareVerifier.rootCurrent(FirmwareVerifier.rotateRoot(two, three, now.plusSeconds(3600)), now.plusSeconds(3600));
        // the online key may not also be a release key
        rejected("malformed", () -> FirmwareVerifier.trustRoot(sign(Envelope.unsigned(FirmwareMetadata.root("acme", 1,
                now.plusSeconds(60), List.of(a.getPublic(), online.getPublic()), 1, List.of(online.getPublic()))), a), now));
    }

    @Test
    void an_unpaired_surrogate_has_no_canonical_form() {
        rejected("malformed", () -> Canonical.encode(Canonical.parse("{\"a\":\"\\ud800\"}".getBytes(StandardCharsets.UTF_8))));
        assertThat(new String(Canonical.encode(Canonical.parse("{\"a\":\"\\ud83d\\ude00\"}".getBytes(StandardCharsets.UTF_8))),
                StandardCharsets.UTF_8)).isEqualTo("{\"a\":\"\ud83d\ude00\"}");
    }

    @Test
    void the_canonical_encoding_ignores_key_order_and_whitespace_and_refuses_duplicates_and_fractions() {
        byte[] x = Canonical.encode(Canonical.parse("{ \"b\": 1, \"a\": [true, null, \"\\u0001é\"] }".getBytes(StandardCharsets.UTF_8)));
        assertThat(new String(x, StandardCharsets.UTF_8)).isEqualTo("{\"a\":[true,null,\"\\u0001é\"],\"b\":1}");
        rejected("malformed", () -> Canonical.parse("{\"a\":1,\"a\":2}".getBytes(StandardCharsets.UTF_8)));
        rejected("malformed", () -> Canonical.encode(Canonical.parse("{\"a\":1.5}".getBytes(StandardCharsets.UTF_8))));
        Envelope t = targets(7, a, b);
        assertThat(Envelope.parse(t.toJson()).digest()).isEqualTo(t.digest());
    }

    @Test
    void a_threshold_or_spec_beyond_the_int_range_is_malformed_not_truncated() {
        // 4294967297 = 2^32 + 1 was read with asInt() as 1: a root declaring an impossible threshold became one
        // that any single release key satisfies, and a document of spec 4294967297 passed as spec 1
        ObjectNode doc = FirmwareMetadata.root("acme", 1, now.plus(Duration.ofDays(365)),
                List.of(a.getPublic(), b.getPublic(), c.getPublic()), 2, List.of(online.getPublic()));
        ((ObjectNode) doc.get("roles").get("release")).put("threshold", new BigInteger("4294967297"));
        Envelope huge = Envelope.parse(sign(Envelope.unsigned(doc), a).toJson());
        rejected("malformed", () -> FirmwareVerifier.trustRoot(huge, now));

        ObjectNode spec = FirmwareMetadata.root("acme", 1, now.plus(Duration.ofDays(365)),
                List.of(a.getPublic(), b.getPublic(), c.getPublic()), 2, List.of(online.getPublic()));
        spec.put("spec", new BigInteger("4294967297"));
        Envelope wrongSpec = Envelope.parse(sign(Envelope.unsigned(spec), a, b).toJson());
        rejected("malformed", () -> FirmwareVerifier.trustRoot(wrongSpec, now));
        spec.put("spec", "1");
        rejected("malformed", () -> FirmwareVerifier.trustRoot(sign(Envelope.unsigned(spec), a, b), now));
    }
}
