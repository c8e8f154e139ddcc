package dev.bulwark.server.device;

import java.util.Locale;

/** Whether a device certificate is still accepted. Persisted by its lower-case name ({@link #wireName}), never by ordinal. */
public enum CertificateStatus {
    ACTIVE, REVOKED;

    public String wireName() {
        return name().toLowerCase(Locale.ROOT);
    }

    public static CertificateStatus fromWire(String s) {
        return valueOf(s.toUpperCase(Locale.ROOT));
    }
}
