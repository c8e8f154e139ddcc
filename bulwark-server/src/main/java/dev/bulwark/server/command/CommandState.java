package dev.bulwark.server.command;

import java.util.Locale;

/**
 * A command's lifecycle: {@code queued → delivered → succeeded | failed}, or {@code expired} when its
 * time-to-live passes first. Persisted by name (lower case, as {@link #wireName()}), shown the same way.
 */
public enum CommandState {
    QUEUED, DELIVERED, SUCCEEDED, FAILED, EXPIRED;

    public String wireName() {
        return name().toLowerCase(Locale.ROOT);
    }

    public static CommandState fromWire(String s) {
        return valueOf(s.toUpperCase(Locale.ROOT));
    }

    /** Whether the device may still report a result for it (queued or delivered). */
    public boolean open() {
        return this == QUEUED || this == DELIVERED;
    }
}
