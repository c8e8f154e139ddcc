package dev.bulwark.server.pki;

import dev.bulwark.protocol.DeviceId;
import dev.bulwark.protocol.TenantId;
import dev.bulwark.server.core.Refusal;
import java.security.PublicKey;
import java.util.List;
import org.bouncycastle.asn1.ASN1Encodable;
import org.bouncycastle.asn1.x500.AttributeTypeAndValue;
import org.bouncycastle.asn1.x500.RDN;
import org.bouncycastle.asn1.x500.X500Name;
import org.bouncycastle.asn1.x500.style.BCStyle;
import org.bouncycastle.asn1.x500.style.IETFUtils;
import org.bouncycastle.operator.OperatorCreationException;
import org.bouncycastle.operator.jcajce.JcaContentVerifierProviderBuilder;
import org.bouncycastle.pkcs.PKCS10CertificationRequest;
import org.bouncycastle.pkcs.PKCSException;
import org.bouncycastle.pkcs.jcajce.JcaPKCS10CertificationRequest;

/**
 * Decides whether a PKCS#10 certificate signing request may become a device certificate.
 *
 * <p>Trust boundary: the CSR comes from an operator or a device and is untrusted. Everything is
 * checked before anything is stored: PEM shape, the CSR's own signature (proof that the requester holds
 * the private key), the key type and size ({@link KeyPolicy}), the signature algorithm, and that the
 * subject names this device (CN = device id; an O, if present, must be the tenant id).
 */
public final class CsrPolicy {

    /** A CSR that passed every check. */
    public record AcceptedCsr(PKCS10CertificationRequest csr, PublicKey publicKey, String keyFingerprint, String keyDescription) {
    }

    private CsrPolicy() {
    }

    public static AcceptedCsr check(String pem, TenantId tenant, DeviceId device) {
        List<Object> objects = Pem.readAll(pem);
        if (objects.size() != 1 || !(objects.get(0) instanceof PKCS10CertificationRequest csr)) {
            throw Refusal.invalid("csr must be exactly one PEM-encoded PKCS#10 certificate request (-----BEGIN CERTIFICATE REQUEST-----)");
        }
        return check(csr, tenant, device);
    }

    /** Parses a DER-encoded PKCS#10 request (as EST sends it, after base64 decoding). */
    public static PKCS10CertificationRequest fromDer(byte[] der) {
        try {
            return new PKCS10CertificationRequest(der);
        } catch (java.io.IOException | RuntimeException e) {
            throw Refusal.invalid("the body is not a DER-encoded PKCS#10 certificate request");
        }
    }

    public static AcceptedCsr check(PKCS10CertificationRequest csr, TenantId tenant, DeviceId device) {
        JcaPKCS10CertificationRequest jcsr = new JcaPKCS10CertificationRequest(csr);
        PublicKey key;
        try {
            key = jcsr.getPublicKey();
        } catch (Exception e) {
            throw Refusal.invalid("csr public key cannot be read");
        }
        String keyDescription = KeyPolicy.check("csr", csr.getSubjectPublicKeyInfo(), key);
        KeyPolicy.checkSignatureAlgorithm("csr", csr.getSignatureAlgorithm());
        boolean signatureOk;
        try {
            signatureOk = csr.isSignatureValid(new JcaContentVerifierProviderBuilder().build(key));
        } catch (OperatorCreationException | PKCSException | RuntimeException e) {
            signatureOk = false;
        }
        if (!signatureOk) {
            throw Refusal.invalid("csr signature is invalid: the request was not signed by the key it carries");
        }
        checkSubject(csr.getSubject(), tenant, device);
        return new AcceptedCsr(csr, key, KeyPolicy.fingerprint(csr.getSubjectPublicKeyInfo()), keyDescription);
    }

    static void checkSubject(X500Name subject, TenantId tenant, DeviceId device) {
        try {
            checkSubjectNames(subject, tenant, device);
        } catch (Refusal r) {
            throw r;
        } catch (RuntimeException malformed) {
            // BouncyCastle parses a request's subject lazily: an RDN that holds something other than
            // type-and-value pairs surfaces here, after the signature check, as IllegalArgumentException
            throw Refusal.invalid("csr subject is not a well-formed distinguished name");
        }
    }

    private static void checkSubjectNames(X500Name subject, TenantId tenant, DeviceId device) {
        RDN[] cns = subject.getRDNs(BCStyle.CN);
        if (cns.length != 1 || cns[0].isMultiValued()) {
            throw Refusal.invalid("csr subject must contain exactly one CN, equal to the device id");
        }
        String cn = value(cns[0].getFirst().getValue());
        if (!device.value().equals(cn)) {
            throw Refusal.invalid("csr subject CN does not match the device id");
        }
        for (RDN rdn : subject.getRDNs(BCStyle.O)) {
            // every O, also one inside a multi-valued RDN behind another attribute (getFirst() would miss it)
            for (AttributeTypeAndValue o : rdn.getTypesAndValues()) {
                if (o.getType().equals(BCStyle.O) && !tenant.value().equals(value(o.getValue()))) {
                    throw Refusal.invalid("csr subject O, when present, must equal the tenant id");
                }
            }
        }
    }

    private static String value(ASN1Encodable v) {
        String s = text(v);
        if (s == null) {
            throw Refusal.invalid("csr subject holds an attribute value that is not valid text");
        }
        return s;
    }

    /** The one CN of {@code name} (in an RDN of its own) as text; null when there is none, several, or it is malformed. */
    public static String singleCn(X500Name name) {
        try {
            RDN[] cns = name.getRDNs(BCStyle.CN);
            if (cns.length != 1 || cns[0].isMultiValued()) {
                return null;
            }
            return text(cns[0].getFirst().getValue());
        } catch (RuntimeException malformed) {
            return null;
        }
    }

    /**
     * An attribute value of a subject as text, or null when it is not valid text (BouncyCastle throws
     * {@link IllegalArgumentException} for a UTF8String holding invalid UTF-8): every name that came from
     * outside is read through here.
     */
    static String text(ASN1Encodable v) {
        try {
            return IETFUtils.valueToString(v);
        } catch (RuntimeException notText) {
            return null;
        }
    }
}
