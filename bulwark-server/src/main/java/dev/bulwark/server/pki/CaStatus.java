package dev.bulwark.server.pki;

import java.util.Locale;

/** Whether a tenant CA is trusted. Persisted by its lower-case name ({@link #wireName}), never by ordinal. */
public enum CaStatus {
    ACTIVE, REVOKED;

    public String wireName() {
        return name().toLowerCase(Locale.ROOT);
    }

    public static CaStatus fromWire(String s) {
        return valueOf(s.toUpperCase(Locale.ROOT));
    }
}
