package dev.bulwark.server.pki;

import static org.assertj.core.api.Assertions.assertThat;

import com.code_intelligence.jazzer.junit.FuzzTest;
import dev.bulwark.protocol.DeviceId;
import dev.bulwark.protocol.TenantId;
import dev.bulwark.server.core.Refusal;
import java.nio.charset.StandardCharsets;
import java.util.List;
import org.bouncycastle.pkcs.PKCS10CertificationRequest;
import org.junit.jupiter.api.Timeout;

/**
 * Coverage-guided fuzzing of the PKCS#10 requests an operator sends over REST ({@code POST
 * .../devices/{id}/certificates}, field {@code csr}): PEM parsing ({@link Pem#readAll}), then {@link CsrPolicy}
 * and {@link KeyPolicy} (key type and size, signature algorithm, proof of possession, subject).
 *
 * <p>Contract: a request is accepted (and then names this device, with an accepted key) or refused with a
 * {@link Refusal} carrying a reason; no other exception, no hang. The corpus holds real requests (EC P-256,
 * P-384, RSA 2048, Ed25519, another CN, two objects in one text) so that mutations start beyond the PEM armour.
 */
class CsrFuzzTest {
    static final TenantId TENANT = TenantId.of("acme");
    static final DeviceId DEVICE = DeviceId.of("thermo-0001");

    @FuzzTest(maxDuration = "10s")
    @Timeout(5)
    void a_pem_certificate_request_is_accepted_or_refused_with_a_reason(byte[] data) {
        String pem = new String(data, StandardCharsets.UTF_8);
        List<Object> objects = Pem.readAll(pem);
        if (objects.size() == 1 && objects.get(0) instanceof PKCS10CertificationRequest csr) {
            EstBodyFuzzTest.subjectInvariant(csr.getSubject());
        }
        try {
            CsrPolicy.AcceptedCsr ok = CsrPolicy.check(pem, TENANT, DEVICE);
            assertThat(ok.keyDescription()).matches("EC P-(256|384)|RSA [0-9]{4}");
            assertThat(ok.keyFingerprint()).hasSize(64);
        } catch (Refusal refused) {
            assertThat(refused.reason()).isNotBlank();
        }
    }
}
