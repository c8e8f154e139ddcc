package dev.bulwark.protocol.firmware;

import java.security.PublicKey;
import java.time.Instant;
import java.util.HashSet;
import java.util.Set;

/**
 * The checks a device (and the server, on upload) makes before it trusts firmware metadata. Every method
 * throws {@link FirmwareRejected} with a stable reason.
 */
public final class FirmwareVerifier {
    private FirmwareVerifier() {
    }

    /**
     * A root that is trusted on its own (installed at the factory, or a tenant's first root): well formed,
     * not expired, signed by its own release threshold.
     */
    public static FirmwareMetadata.Root trustRoot(Envelope root, Instant now) {
        FirmwareMetadata.Root r = FirmwareMetadata.parseRoot(root.signed());
        threshold(root, r.release(), r, "root");
        notExpired(r.expires(), now, "expired", "root");
        return r;
    }

    /**
     * A new root replacing {@code trusted}: the next version, same tenant, signed by the threshold of the
     * trusted root's release keys and by its own. Expiry is checked on the last root of the chain only.
     */
    public static FirmwareMetadata.Root rotateRoot(FirmwareMetadata.Root trusted, Envelope next, Instant now) {
        FirmwareMetadata.Root r = FirmwareMetadata.parseRoot(next.signed());
        if (!r.tenant().equals(trusted.tenant())) {
            throw new FirmwareRejected("root-not-trusted", "the new root is for another tenant");
        }
        if (r.version() != trusted.version() + 1) {
            throw new FirmwareRejected("root-not-trusted", "a new root must have version " + (trusted.version() + 1));
        }
        threshold(next, trusted.release(), trusted, "new root (by the previous root's keys)");
        threshold(next, r.release(), r, "new root (by its own keys)");
        // no expiry check here: a device offline across a root's lifetime must still walk the chain; the root
        // it ends on is checked with rootCurrent
        return r;
    }

    /** The root a device ends on after walking the chain must not have expired (else it trusts retired keys forever). */
    public static void rootCurrent(FirmwareMetadata.Root root, Instant now) {
        notExpired(root.expires(), now, "expired", "root version " + root.version());
    }

    /** A release's targets document, against the trusted root. */
    public static FirmwareMetadata.Targets targets(FirmwareMetadata.Root root, Envelope targets, Instant now) {
        FirmwareMetadata.Targets t = FirmwareMetadata.parseTargets(targets.signed());
        if (!t.tenant().equals(root.tenant())) {
            throw new FirmwareRejected("root-not-trusted", "the targets are for another tenant");
        }
        threshold(targets, root.release(), root, "targets");
        notExpired(t.expires(), now, "expired", "targets");
        return t;
    }

    /**
     * The freshness of {@code targets}: a timestamp signed by the online key, not expired, naming exactly
     * this targets document (digest and version number).
     */
    public static FirmwareMetadata.Timestamp fresh(FirmwareMetadata.Root root, Envelope timestamp, Envelope targets,
                                                   FirmwareMetadata.Targets t, Instant now) {
        FirmwareMetadata.Timestamp ts = FirmwareMetadata.parseTimestamp(timestamp.signed());
        if (!ts.tenant().equals(root.tenant())) {
            throw new FirmwareRejected("root-not-trusted", "the timestamp is for another tenant");
        }
        threshold(timestamp, root.timestamp(), root, "timestamp");
        notExpired(ts.expires(), now, "freeze", "timestamp (updates may be withheld)");
        if (!ts.targets().equals(targets.digest()) || ts.versionNumber() != t.versionNumber()) {
            throw new FirmwareRejected("mixed-metadata", "the timestamp names another release than these targets");
        }
        return ts;
    }

    /** Whether this device may install the release: its model, its hardware, a newer version than installed. */
    public static void installable(FirmwareMetadata.Targets t, String model, String hardware, long installedVersionNumber) {
        if (!t.model().equals(model)) {
            throw new FirmwareRejected("model-mismatch", "the release is for model " + t.model());
        }
        if (!t.hardware().contains(hardware)) {
            throw new FirmwareRejected("hardware-incompatible", "the release does not support hardware " + hardware);
        }
        if (t.versionNumber() <= installedVersionNumber) {
            throw new FirmwareRejected("rollback", "version number " + t.versionNumber() + " is not above the installed "
                    + installedVersionNumber);
        }
    }

    /** The downloaded image: exactly the length and SHA-256 the signed targets name. */
    public static void image(FirmwareMetadata.Targets t, long length, String sha256) {
        if (length != t.length()) {
            throw new FirmwareRejected("length-mismatch", "the image has " + length + " bytes, the release " + t.length());
        }
        if (!sha256.equals(t.sha256())) {
            throw new FirmwareRejected("digest-mismatch", "the image's SHA-256 differs from the signed one");
        }
    }

    private static void threshold(Envelope env, FirmwareMetadata.Role role, FirmwareMetadata.Root keysOf, String what) {
        byte[] bytes = env.signedBytes();
        Set<String> valid = new HashSet<>();
        for (Envelope.Sig s : env.signatures()) {
            if (!role.keyids().contains(s.keyid()) || valid.contains(s.keyid())) {
                continue;
            }
            PublicKey k = keysOf.keys().get(s.keyid());
            if (k != null && ReleaseKeys.verify(k, bytes, s.sig())) {
                valid.add(s.keyid());
            }
        }
        if (valid.size() < role.threshold()) {
            throw new FirmwareRejected("threshold-not-met", what + " carries " + valid.size() + " valid signature(s) of the "
                    + role.threshold() + " required");
        }
    }

    private static void notExpired(Instant expires, Instant now, String reason, String what) {
        if (!expires.isAfter(now)) {
            throw new FirmwareRejected(reason, what + " expired at " + expires);
        }
    }
}
