package dev.bulwark.server.firmware;

import dev.bulwark.server.core.Refusal;
import java.util.Locale;

/**
 * Where one device of a rollout is: {@code offered} by the server, then what the device reports:
 * {@code downloading}, {@code verified}, {@code installed} or {@code failed}. Persisted by name (lower case,
 * as {@link #wireName()}), shown the same way.
 */
public enum InstallState {
    OFFERED, DOWNLOADING, VERIFIED, INSTALLED, FAILED;

    public String wireName() {
        return name().toLowerCase(Locale.ROOT);
    }

    public static InstallState fromWire(String s) {
        return valueOf(s.toUpperCase(Locale.ROOT));
    }

    /** A state a device reports (anything but {@code offered}); refused otherwise. */
    public static InstallState reported(String s) {
        for (InstallState st : values()) {
            if (st != OFFERED && st.wireName().equals(s)) {
                return st;
            }
        }
        throw Refusal.invalid("state must be one of downloading, verified, installed, failed");
    }

    /** Whether the install is over, for the failure-rate bound (installed or failed). */
    public boolean finished() {
        return this == INSTALLED || this == FAILED;
    }
}
