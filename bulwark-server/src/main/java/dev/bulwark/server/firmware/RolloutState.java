package dev.bulwark.server.firmware;

import java.util.Locale;

/**
 * A rollout's state: {@code running ⇄ paused}, either of them → {@code aborted} (final). Persisted by name
 * (lower case, as {@link #wireName()}), shown the same way.
 */
public enum RolloutState {
    RUNNING, PAUSED, ABORTED;

    public String wireName() {
        return name().toLowerCase(Locale.ROOT);
    }

    public static RolloutState fromWire(String s) {
        return valueOf(s.toUpperCase(Locale.ROOT));
    }
}
