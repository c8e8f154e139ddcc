package dev.bulwark.server.device;

import java.util.Locale;

/** Lifecycle of a device. Persisted by its lower-case name ({@link #wireName}), never by ordinal. */
public enum DeviceStatus {
    ACTIVE, DISABLED, QUARANTINED, DELETED;

    public String wireName() {
        return name().toLowerCase(Locale.ROOT);
    }

    public static DeviceStatus fromWire(String s) {
        return valueOf(s.toUpperCase(Locale.ROOT));
    }
}
