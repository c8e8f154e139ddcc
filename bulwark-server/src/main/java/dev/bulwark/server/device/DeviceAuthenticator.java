package dev.bulwark.server.device;

import dev.bulwark.protocol.DeviceId;
import dev.bulwark.protocol.InvalidIdException;
import dev.bulwark.protocol.TenantId;
import dev.bulwark.server.core.Clock;
import dev.bulwark.server.crypto.BearerSecret;
import dev.bulwark.server.crypto.Secrets;
import dev.bulwark.server.identity.AuthOutcome;
import dev.bulwark.server.pki.CaStatus;
import dev.bulwark.server.pki.Pem;
import dev.bulwark.server.pki.PlatformPki;
import dev.bulwark.server.pki.TenantCaStore;
import dev.bulwark.server.store.Database;
import java.nio.charset.StandardCharsets;
import java.security.GeneralSecurityException;
import java.security.cert.CertificateEncodingException;
import java.security.cert.X509Certificate;
import java.util.Optional;
import org.jdbi.v3.core.Handle;

/**
 * The one place that turns a device's presented credential into a {@link DevicePrincipal}, or a refusal
 * with its reason. Used by every device-facing listener (MQTT, device HTTPS).
 *
 * <p>Certificates: the leaf must be signed by the platform CA or by an active tenant CA registered with
 * proof of possession, be within its validity period, be registered to a device (looked up by its
 * SHA-256 fingerprint, so the identity comes from the registry and never from the subject text) and not
 * be revoked. Tokens: {@code {deviceId}@{tenantId}} as user name and the server-generated token as
 * password. In both cases the device must be active.
 *
 * <p>Attribution: a refusal names the tenant whose registered device (or whose CA) the attempt was about,
 * whatever the presented secret looks like (a malformed token included), so that the tenant's analysts see
 * the attacks on their devices; a name that is no registered device stays with the platform. Attribution
 * never changes the answer to the caller (the same reason code either way: no existence oracle). Whether
 * {@code device@tenant} is registered is answered from a small cache (bounded, entries for 30 s), so that a
 * flood of failures is no flood of database reads.
 *
 * <p>A session already open is judged by the same rules, from the registry alone, by
 * {@link CredentialStore.Standing#refusal} (a cluster's session sweep): keep the two in step.
 *
 * <p>Blocking: performs database reads; call it from a worker thread, never from an event loop.
 */
public final class DeviceAuthenticator {
    private final Database db;
    private final PlatformPki pki;
    private final Clock clock;
    private final DeviceStore devices;
    private final CredentialStore credentials;
    private final TenantCaStore tenantCas;

    private static final int REGISTRY_CACHE = 100_000;
    private static final long REGISTRY_TTL_MS = 30_000;
    private final java.util.Map<String, long[]> registered = java.util.Collections.synchronizedMap(
            new java.util.LinkedHashMap<>(1024, 0.75f, true) {
                @Override
                protected boolean removeEldestEntry(java.util.Map.Entry<String, long[]> eldest) {
                    return size() > REGISTRY_CACHE;
                }
            });

    public DeviceAuthenticator(Database db, PlatformPki pki, Clock clock, DeviceStore devices, CredentialStore credentials,
                               TenantCaStore tenantCas) {
        this.db = db;
        this.pki = pki;
        this.clock = clock;
        this.devices = devices;
        this.credentials = credentials;
        this.tenantCas = tenantCas;
    }

    /** The tenant when {@code device} is a registered (not deleted) device of {@code tenant}, else null; cached. */
    String registeredTenant(TenantId tenant, DeviceId device) {
        return registeredTenant(null, tenant, device);
    }

    /** As {@link #registeredTenant(TenantId, DeviceId)}, on the caller's handle when it has one (no second connection). */
    private String registeredTenant(Handle handle, TenantId tenant, DeviceId device) {
        String key = tenant.value() + "/" + device.value();
        long now = System.nanoTime() / 1_000_000;
        long[] hit = registered.get(key);
        if (hit == null || now - hit[1] > REGISTRY_TTL_MS) {
            boolean yes = handle != null ? devices.isRegistered(handle, tenant, device) : db.read(h -> devices.isRegistered(h, tenant, device));
            hit = new long[] {yes ? 1 : 0, now};
            registered.put(key, hit);
        }
        return hit[0] == 1 ? tenant.value() : null;
    }

    /** The tenant of {@code device@tenant} when that names a registered device, else null. */
    private String registeredTenant(String username) {
        int at = username == null ? -1 : username.lastIndexOf('@');
        if (at <= 0) {
            return null;
        }
        try {
            return registeredTenant(TenantId.of(username.substring(at + 1)), DeviceId.of(username.substring(0, at)));
        } catch (InvalidIdException e) {
            return null;
        }
    }

    public AuthOutcome<DevicePrincipal> byCertificate(X509Certificate[] chain) {
        if (chain == null || chain.length == 0) {
            return refused("no-credentials", null);
        }
        X509Certificate leaf = chain[0];
        String claimed = "certificate subject=" + leaf.getSubjectX500Principal().getName() + " serial=" + PlatformPki.serialHex(leaf);
        String fingerprint;
        try {
            fingerprint = Secrets.sha256Hex(leaf.getEncoded());
        } catch (CertificateEncodingException e) {
            return refused("certificate-malformed", claimed);
        }
        long now = clock.nowMs();
        return db.read(h -> {
            String caId = null;
            String caTenant = null;
            if (signedBy(leaf, pki.caCertificate())) {
                caId = PlatformPki.PLATFORM_CA_ID;
            } else {
                for (TenantCaStore.TenantCa ca : tenantCas.bySubject(h, leaf.getIssuerX500Principal().getName())) {
                    X509Certificate caCert = Pem.certificate(ca.pem());
                    if (caCert != null && signedBy(leaf, caCert)) {
                        // a certificate of a tenant's CA is about that tenant, registered or not
                        caTenant = ca.tenantId();
                        if (ca.status() != CaStatus.ACTIVE) {
                            return refusedKnown("ca-revoked", claimed, caTenant);
                        }
                        var outside = dev.bulwark.server.pki.TenantCaPolicy.outsideValidity(caCert, now);
                        if (outside.isPresent()) {
                            // the CA's tenant sees it: its devices are refused because its CA expired
                            return refusedKnown(outside.get(), claimed + " ca:" + ca.id(), ca.tenantId());
                        }
                        caId = ca.id();
                        break;
                    }
                }
            }
            if (caId == null) {
                return refused("certificate-untrusted", claimed);
            }
            Optional<CredentialStore.CertificateRecord> rec = credentials.findCertificateByFingerprint(h, fingerprint);
            boolean registered = rec.isPresent() && rec.get().caId().equals(caId);
            // a registered certificate names its device and tenant, so that its refusals are attributed to them
            String known = registered ? "device:" + rec.get().tenantId() + "/" + rec.get().deviceId() + " certificate:" + caId + "/"
                    + rec.get().serial() : claimed;
            String knownTenant = registered ? rec.get().tenantId() : caTenant;
            if (leaf.getNotAfter().getTime() < now) {
                return refusedKnown("certificate-expired", known, knownTenant);
            }
            if (leaf.getNotBefore().getTime() > now) {
                return refusedKnown("certificate-not-yet-valid", known, knownTenant);
            }
            if (!registered) {
                return refusedKnown("certificate-unregistered", claimed, caTenant);
            }
            CredentialStore.CertificateRecord r = rec.get();
            String identity = known;
            if (r.status() != CertificateStatus.ACTIVE) {
                return refusedKnown("certificate-revoked", identity, r.tenantId());
            }
            return deviceStatus(h, TenantId.of(r.tenantId()), DeviceId.of(r.deviceId()), "certificate:" + caId + "/" + r.serial(), identity);
        });
    }

    /** Token over TLS: user name {@code {deviceId}@{tenantId}}, password the device token. */
    public AuthOutcome<DevicePrincipal> byToken(String username, byte[] password) {
        if (username == null || password == null) {
            return refusedKnown("no-credentials", username, registeredTenant(username));
        }
        int at = username.lastIndexOf('@');
        TenantId tenant;
        DeviceId device;
        try {
            if (at <= 0) {
                throw new InvalidIdException("username", "has no @");
            }
            device = DeviceId.of(username.substring(0, at));
            tenant = TenantId.of(username.substring(at + 1));
        } catch (InvalidIdException e) {
            return refused("username-malformed", username.length() > 100 ? username.substring(0, 100) : username);
        }
        Optional<BearerSecret> token = BearerSecret.parse(BearerSecret.DEVICE, new String(password, StandardCharsets.UTF_8));
        if (token.isEmpty()) {
            return refusedKnown("token-malformed", "device:" + tenant + "/" + device + " token:malformed", registeredTenant(tenant, device));
        }
        long now = clock.nowMs();
        return db.read(h -> {
            // the token of the device the user name names: a token of another device (or tenant) is unknown here
            var row = credentials.tokenWithDigest(h, tenant, device, token.get().id());
            String identity = "device:" + tenant + "/" + device + " token:" + token.get().id();
            if (row.isEmpty()) {
                // attributed to the tenant only when the named device is really one of its devices
                return refusedKnown("token-unknown", identity, registeredTenant(h, tenant, device));
            }
            if (!token.get().matches(row.get().secretSha256())) {
                return refusedKnown("token-wrong-secret", identity, tenant.value());
            }
            if (row.get().token().revokedMs() != null) {
                return refusedKnown("token-revoked", identity, tenant.value());
            }
            if (row.get().token().expiresMs() <= now) {
                return refusedKnown("token-expired", identity, tenant.value());
            }
            return deviceStatus(h, tenant, device, "token:" + token.get().id(), identity);
        });
    }

    private AuthOutcome<DevicePrincipal> deviceStatus(Handle h, TenantId tenant, DeviceId device, String credential, String identity) {
        Optional<DeviceStatus> status = devices.status(h, tenant, device);
        if (status.isEmpty() || status.get() == DeviceStatus.DELETED) {
            return refusedKnown("device-unknown", identity, tenant.value());
        }
        if (status.get() != DeviceStatus.ACTIVE) {
            return refusedKnown("device-" + status.get().wireName(), identity, tenant.value());
        }
        return new AuthOutcome.Authenticated<>(new DevicePrincipal(tenant, device, credential));
    }

    /** True when {@code issuer} (by name and signature) issued {@code cert}. */
    public static boolean signedBy(X509Certificate cert, X509Certificate issuer) {
        if (!cert.getIssuerX500Principal().equals(issuer.getSubjectX500Principal())) {
            return false;
        }
        try {
            cert.verify(issuer.getPublicKey());
            return true;
        } catch (GeneralSecurityException e) {
            return false;
        }
    }

    private static AuthOutcome<DevicePrincipal> refused(String reason, String claimed) {
        return new AuthOutcome.Refused<>(reason, claimed);
    }

    /** A refusal attributed to the tenant concerned (known once the credential was found). */
    private static AuthOutcome<DevicePrincipal> refusedKnown(String reason, String claimed, String tenant) {
        return new AuthOutcome.Refused<>(reason, claimed, tenant);
    }
}
