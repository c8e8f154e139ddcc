package dev.bulwark.server.pki;

import static org.assertj.core.api.Assertions.assertThat;

import com.code_intelligence.jazzer.junit.FuzzTest;
import dev.bulwark.protocol.DeviceId;
import dev.bulwark.protocol.TenantId;
import dev.bulwark.server.core.Refusal;
import dev.bulwark.server.device.EstService;
import java.util.Arrays;
import java.util.Base64;
import java.util.List;
import org.bouncycastle.asn1.x500.AttributeTypeAndValue;
import org.bouncycastle.asn1.x500.X500Name;
import org.bouncycastle.asn1.x500.style.BCStyle;
import org.bouncycastle.asn1.x500.style.IETFUtils;
import org.bouncycastle.pkcs.PKCS10CertificationRequest;
import org.junit.jupiter.api.Timeout;

/**
 * Coverage-guided fuzzing of an EST {@code simpleenroll} / {@code simplereenroll} body as the device HTTPS
 * listener handles it ({@code EstEndpoint.enroll}, then {@link EstService}): at most 16 KiB, MIME base64 (line
 * breaks allowed, as RFC 7030 clients send it), a DER PKCS#10 request ({@link CsrPolicy#fromDer}), then
 * {@link CsrPolicy#check} for the authenticated device.
 *
 * <p>Contract: the body is refused as "not base64" ({@link IllegalArgumentException} from the decoder, answered
 * 400), or as a {@link Refusal} (answered 400 and recorded), or accepted; any other exception would be answered
 * 503 and logged as an internal error, so it counts as a finding.
 */
class EstBodyFuzzTest {
    static final int MAX_BODY = 16 * 1024; // EstEndpoint.MAX_CSR_BYTES, enforced by its BodyHandler
    static final TenantId TENANT = TenantId.of("acme");
    static final DeviceId DEVICE = DeviceId.of("thermo-0001");

    @FuzzTest(maxDuration = "10s")
    @Timeout(5)
    void an_est_body_is_accepted_or_refused_with_a_reason(byte[] body) {
        if (body.length > MAX_BODY) {
            return;
        }
        byte[] der;
        try {
            der = Base64.getMimeDecoder().decode(body);
        } catch (IllegalArgumentException notBase64) {
            return;
        }
        assertThat(der.length).isLessThanOrEqualTo(body.length);
        PKCS10CertificationRequest csr;
        try {
            csr = CsrPolicy.fromDer(der);
        } catch (Refusal refused) {
            assertThat(refused.reason()).isNotBlank();
            return;
        }
        subjectInvariant(csr.getSubject());
        try {
            CsrPolicy.AcceptedCsr ok = CsrPolicy.check(csr, TENANT, DEVICE);
            assertThat(ok.keyDescription()).matches("EC P-(256|384)|RSA [0-9]{4}");
        } catch (Refusal refused) {
            assertThat(refused.reason()).isNotBlank();
        }
    }

    /**
     * The subject rules on their own (the fuzzer cannot re-sign a mutated request, so the full check rarely gets
     * past the signature): a subject passes only with exactly one CN, the device id, and every O the tenant id.
     */
    static void subjectInvariant(X500Name subject) {
        try {
            CsrPolicy.checkSubject(subject, TENANT, DEVICE);
        } catch (Refusal refused) {
            assertThat(refused.reason()).isNotBlank();
            return;
        }
        List<AttributeTypeAndValue> all = Arrays.stream(subject.getRDNs()).flatMap(r -> Arrays.stream(r.getTypesAndValues())).toList();
        assertThat(all.stream().filter(a -> a.getType().equals(BCStyle.CN)).map(a -> IETFUtils.valueToString(a.getValue())))
                .containsExactly(DEVICE.value());
        assertThat(all.stream().filter(a -> a.getType().equals(BCStyle.O)).map(a -> IETFUtils.valueToString(a.getValue())))
                .allMatch(TENANT.value()::equals);
    }
}
