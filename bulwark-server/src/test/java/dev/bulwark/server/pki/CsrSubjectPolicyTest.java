package dev.bulwark.server.pki;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatCode;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import dev.bulwark.protocol.DeviceId;
import dev.bulwark.protocol.TenantId;
import dev.bulwark.server.core.Refusal;
import java.security.KeyPair;
import java.security.KeyPairGenerator;
import java.security.spec.ECGenParameterSpec;
import org.bouncycastle.asn1.ASN1Encodable;
import org.bouncycastle.asn1.ASN1Primitive;
import org.bouncycastle.asn1.DERSequence;
import org.bouncycastle.asn1.DERSet;
import org.bouncycastle.asn1.DERTaggedObject;
import org.bouncycastle.asn1.DERUTF8String;
import org.bouncycastle.asn1.x500.AttributeTypeAndValue;
import org.bouncycastle.asn1.x500.RDN;
import org.bouncycastle.asn1.x500.X500Name;
import org.bouncycastle.asn1.x500.style.BCStyle;
import org.bouncycastle.operator.jcajce.JcaContentSignerBuilder;
import org.bouncycastle.pkcs.PKCS10CertificationRequest;
import org.bouncycastle.pkcs.jcajce.JcaPKCS10CertificationRequestBuilder;
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

    /** A UTF8String whose content is {@code thermo-0}, the invalid UTF-8 byte 0xff, then {@code 01}. */
    static ASN1Encodable invalidUtf8() throws Exception {
        byte[] der = {0x0c, 11, 't', 'h', 'e', 'r', 'm', 'o', '-', '0', (byte) 0xff, '0', '1'};
        return ASN1Primitive.fromByteArray(der);
    }

    @Test
    void a_cn_or_o_that_is_not_valid_utf8_is_refused_with_a_reason_not_an_internal_error() throws Exception {
        // found by EstBodyFuzzTest (input cn-utf8string-with-invalid-utf8.b64): BouncyCastle's IllegalArgumentException
        // escaped CsrPolicy, so EST answered 503 and logged an internal error instead of refusing and recording
        X500Name cn = new X500Name(new RDN[] {new RDN(new AttributeTypeAndValue(BCStyle.CN, invalidUtf8()))});
        assertThatThrownBy(() -> CsrPolicy.checkSubject(cn, ACME, THERMO)).isInstanceOf(Refusal.class).hasMessageContaining("not valid text");
        X500Name o = new X500Name(new RDN[] {new RDN(BCStyle.CN, new DERUTF8String("thermo-0001")),
            new RDN(new AttributeTypeAndValue(BCStyle.O, invalidUtf8()))});
        assertThatThrownBy(() -> CsrPolicy.checkSubject(o, ACME, THERMO)).isInstanceOf(Refusal.class).hasMessageContaining("not valid text");
        assertThat(CsrPolicy.singleCn(cn)).isNull(); // factory certificates and CA challenges: "no usable CN"
    }

    @Test
    void a_subject_whose_rdn_holds_something_other_than_a_type_and_value_is_refused() throws Exception {
        // found by CsrFuzzTest (input rdn-holding-a-tagged-object.pem: [16] where the SEQUENCE belongs):
        // the subject is parsed lazily, so the IllegalArgumentException surfaced in getRDNs, after the signature check
        X500Name bad = X500Name.getInstance(new DERSequence(new DERSet(new DERTaggedObject(false, 16,
                new DERSequence(new ASN1Encodable[] {BCStyle.CN, new DERUTF8String("thermo-0001")})))));
        assertThatThrownBy(() -> CsrPolicy.checkSubject(bad, ACME, THERMO)).isInstanceOf(Refusal.class)
                .hasMessageContaining("not a well-formed distinguished name");
        assertThat(CsrPolicy.singleCn(bad)).isNull();
    }

    @Test
    void a_correctly_signed_request_with_an_unreadable_subject_is_refused_over_pem_and_der() throws Exception {
        KeyPairGenerator g = KeyPairGenerator.getInstance("EC");
        g.initialize(new ECGenParameterSpec("secp256r1"));
        KeyPair k = g.generateKeyPair();
        PKCS10CertificationRequest csr = new JcaPKCS10CertificationRequestBuilder(
                new X500Name(new RDN[] {new RDN(new AttributeTypeAndValue(BCStyle.CN, invalidUtf8()))}), k.getPublic())
                .build(new JcaContentSignerBuilder("SHA256withECDSA").build(k.getPrivate()));
        assertThatThrownBy(() -> CsrPolicy.check(Pem.encode(csr), ACME, THERMO)).isInstanceOf(Refusal.class)
                .hasMessageContaining("not valid text");
        assertThatThrownBy(() -> CsrPolicy.check(CsrPolicy.fromDer(csr.getEncoded()), ACME, THERMO)).isInstanceOf(Refusal.class)
                .hasMessageContaining("not valid text");
    }
}
