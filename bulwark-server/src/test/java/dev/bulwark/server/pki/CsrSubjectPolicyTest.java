package dev.bulwark.server.pki;

import static org.assertj.core.api.Assertions.assertThatCode;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import dev.bulwark.protocol.DeviceId;
import dev.bulwark.protocol.TenantId;
import dev.bulwark.server.Refusal;
import org.bouncycastle.asn1.x500.X500Name;
import org.junit.jupiter.api.Test;

/** The subject rules of {@link CsrPolicy}: one CN, the device id; every O, when present, the tenant id. */
class CsrSubjectPolicyTest {
    static final TenantId ACME = TenantId.of("acme");
    static final DeviceId THERMO = DeviceId.of("thermo-0001");

    static void refused(String subject, String reason) {
        assertThatThrownBy(() -> CsrPolicy.checkSubject(new X500Name(subject), ACME, THERMO))
                .isInstanceOf(Refusal.class).hasMessageContaining(reason);
    }

    @Test
    void the_device_id_as_cn_with_or_without_the_tenant_as_o_is_accepted() {
        assertThatCode(() -> CsrPolicy.checkSubject(new X500Name("CN=thermo-0001"), ACME, THERMO)).doesNotThrowAnyException();
        assertThatCode(() -> CsrPolicy.checkSubject(new X500Name("CN=thermo-0001,O=acme"), ACME, THERMO)).doesNotThrowAnyException();
        assertThatCode(() -> CsrPolicy.checkSubject(new X500Name("CN=thermo-0001,L=acme+O=acme"), ACME, THERMO))
                .doesNotThrowAnyException();
    }

    @Test
    void another_tenant_as_o_is_refused_even_inside_a_multi_valued_rdn_behind_an_attribute_that_names_the_tenant() {
        // found while writing the fuzz targets' subject invariant (EstBodyFuzzTest.subjectInvariant): the RDN {L=acme + O=evil} (L sorts first in the DER SET) passed,
        // because only the RDN's first attribute was compared with the tenant id
        refused("CN=thermo-0001,L=acme+O=evil", "must equal the tenant id");
        refused("CN=thermo-0001,O=evil", "must equal the tenant id");
        refused("CN=thermo-0001,O=acme,O=evil", "must equal the tenant id");
    }

    @Test
    void a_missing_repeated_multi_valued_or_foreign_cn_is_refused() {
        refused("O=acme", "exactly one CN");
        refused("CN=thermo-0001,CN=thermo-0001", "exactly one CN");
        refused("CN=thermo-0001+O=acme", "exactly one CN");
        refused("CN=thermo-0002", "does not match the device id");
    }
}
