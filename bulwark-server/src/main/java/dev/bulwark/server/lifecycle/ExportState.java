package dev.bulwark.server.lifecycle;

import java.util.Locale;

/** An owner's data export: {@code running → done | failed}. Persisted by name (lower case, as {@link #wireName()}). */
public enum ExportState {
    RUNNING, DONE, FAILED;

    public String wireName() {
        return name().toLowerCase(Locale.ROOT);
    }

    public static ExportState fromWire(String s) {
        return valueOf(s.toUpperCase(Locale.ROOT));
    }
}
