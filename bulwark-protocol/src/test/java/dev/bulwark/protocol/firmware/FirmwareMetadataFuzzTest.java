package dev.bulwark.protocol.firmware;

import static org.assertj.core.api.Assertions.assertThat;

import com.code_intelligence.jazzer.junit.FuzzTest;
import com.fasterxml.jackson.databind.JsonNode;
import java.math.BigInteger;
import java.security.GeneralSecurityException;
import java.security.KeyPair;
import java.security.KeyPairGenerator;
import java.security.SecureRandom;
import java.security.spec.NamedParameterSpec;
import java.time.Duration;
import java.time.Instant;
import java.util.Arrays;
import java.util.List;

/**
 * Coverage-guided fuzzing of the firmware metadata a device and the server accept from outside: the strict
 * JSON parser, the canonical encoding and the envelope, root, targets and timestamp checks.
 *
 * <p>Contract: any input is either accepted or refused with {@link FirmwareRejected}; nothing else is thrown.
 * An accepted envelope re-encodes to the same canonical bytes (the signature is over what the signer meant).
 * The keys are derived from fixed seeds so that the signed documents in the corpus
 * ({@code FirmwareMetadataFuzzTestInputs/}) verify, and the fuzzer starts from documents that pass every check.
 */
class FirmwareMetadataFuzzTest {
    static final Instant NOW = Instant.parse("2026-11-27T00:00:00Z");
    static final KeyPair A = key(1);
    static final KeyPair B = key(2);
    static final KeyPair ONLINE = key(3);
    static final Envelope ROOT = sign(Envelope.unsigned(FirmwareMetadata.root("acme", 1, NOW.plus(Duration.ofDays(365)),
            List.of(A.getPublic(), B.getPublic()), 2, List.of(ONLINE.getPublic()))), A, B);
    static final FirmwareMetadata.Root TRUSTED = FirmwareVerifier.trustRoot(ROOT, NOW);
    static final Envelope TARGETS = sign(Envelope.unsigned(FirmwareMetadata.targets("acme", "thermo", List.of("rev-a"), "1.0.7", 7,
            ReleaseKeys.sha256Hex(new byte[] {1, 2, 3}), 3, NOW.plus(Duration.ofDays(90)))), A, B);

    @FuzzTest(maxDuration = "10s")
    void firmware_metadata_is_accepted_or_refused_with_a_reason(byte[] data) {
        Envelope env;
        try {
            env = Envelope.parse(data);
        } catch (FirmwareRejected refused) {
            assertThat(refused.reason()).isEqualTo("malformed");
            return;
        }
        byte[] canonical;
        try {
            canonical = env.toJson();
        } catch (FirmwareRejected refused) {
            assertThat(refused.reason()).isEqualTo("malformed"); // floats, unpaired surrogates, too deep
            return;
        }
        // the canonical form is a fixed point: parsing and re-encoding it changes nothing
        Envelope again = Envelope.parse(canonical);
        assertThat(again.toJson()).isEqualTo(canonical);
        assertThat(again.digest()).isEqualTo(env.digest());
        verify(env);
        // the same document signed by the fixture's keys: mutations inside "signed" break the original signatures,
        // so this is how the fuzzer reaches the checks behind the signature (thresholds, tenant, expiry, versions)
        verify(sign(Envelope.unsigned(env.signed()), "timestamp".equals(env.type()) ? new KeyPair[] {ONLINE} : new KeyPair[] {A, B}));
    }

    static void verify(Envelope env) {
        try {
            switch (env.type()) {
                case "root" -> {
                    FirmwareMetadata.Root trusted = FirmwareVerifier.trustRoot(env, NOW);
                    declared(env, trusted);
                    assertThat(trusted.expires()).isAfter(NOW);
                    FirmwareMetadata.Root next = FirmwareVerifier.rotateRoot(TRUSTED, env, NOW); // expiry: see rootCurrent
                    declared(env, next);
                    assertThat(next.version()).isEqualTo(TRUSTED.version() + 1);
                }
                case "targets" -> {
                    FirmwareMetadata.Targets t = FirmwareVerifier.targets(TRUSTED, env, NOW);
                    specOne(env);
                    assertThat(t.tenant()).isEqualTo("acme");
                    assertThat(t.expires()).isAfter(NOW);
                    FirmwareVerifier.installable(t, "thermo", "rev-a", 0);
                    FirmwareVerifier.image(t, 3, ReleaseKeys.sha256Hex(new byte[] {1, 2, 3}));
                }
                case "timestamp" -> {
                    FirmwareMetadata.Targets t = FirmwareVerifier.targets(TRUSTED, TARGETS, NOW);
                    FirmwareMetadata.Timestamp ts = FirmwareVerifier.fresh(TRUSTED, env, TARGETS, t, NOW);
                    specOne(env);
                    assertThat(ts.targets()).isEqualTo(TARGETS.digest());
                }
                default -> FirmwareVerifier.trustRoot(env, NOW);
            }
        } catch (FirmwareRejected refused) {
            assertThat(refused.reason()).isNotBlank();
        }
    }

    /** An accepted root means what its document says: the thresholds as written, spec 1. */
    static void declared(Envelope env, FirmwareMetadata.Root r) {
        specOne(env);
        JsonNode roles = env.signed().path("roles");
        assertThat(roles.path("release").path("threshold").bigIntegerValue()).isEqualTo(BigInteger.valueOf(r.release().threshold()));
        assertThat(roles.path("timestamp").path("threshold").bigIntegerValue()).isEqualTo(BigInteger.valueOf(r.timestamp().threshold()));
        assertThat(r.release().threshold()).isBetween(1, r.release().keyids().size());
    }

    static void specOne(Envelope env) {
        JsonNode spec = env.signed().path("spec");
        assertThat(spec.isIntegralNumber() && spec.bigIntegerValue().equals(BigInteger.ONE)).as("spec %s", spec).isTrue();
    }

    static Envelope sign(Envelope e, KeyPair... keys) {
        for (KeyPair k : keys) {
            e = e.sign(k.getPrivate(), ReleaseKeys.keyId(k.getPublic()));
        }
        return e;
    }

    /** An Ed25519 key pair derived from a fixed seed (test only: the corpus holds documents signed with it). */
    static KeyPair key(int seed) {
        try {
            SecureRandom fixed = SecureRandom.getInstance("SHA1PRNG");
            byte[] s = new byte[32];
            Arrays.fill(s, (byte) seed);
            fixed.setSeed(s);
            KeyPairGenerator g = KeyPairGenerator.getInstance("Ed25519");
            g.initialize(NamedParameterSpec.ED25519, fixed);
            return g.generateKeyPair();
        } catch (GeneralSecurityException e) {
            throw new IllegalStateException(e);
        }
    }
}
