package dev.bulwark.server.core;

import java.nio.charset.StandardCharsets;
import java.time.Instant;
import java.util.Base64;

/** Helpers for response bodies: ISO-8601 times and opaque cursors. */
public final class Views {
    private Views() {
    }

    public static String time(long ms) {
        return Instant.ofEpochMilli(ms).toString();
    }

    public static String time(Long ms) {
        return ms == null ? null : time(ms.longValue());
    }

    public static String cursor(String lastKey) {
        return lastKey == null ? null : Base64.getUrlEncoder().withoutPadding().encodeToString(lastKey.getBytes(StandardCharsets.UTF_8));
    }

    /** Decodes a cursor; malformed cursors are refused with a reason. */
    public static String decodeCursor(String cursor) {
        if (cursor == null) {
            return "";
        }
        try {
            String s = new String(Base64.getUrlDecoder().decode(cursor), StandardCharsets.UTF_8);
            if (s.length() > 200) {
                throw new IllegalArgumentException();
            }
            return s;
        } catch (IllegalArgumentException e) {
            throw dev.bulwark.server.core.Refusal.invalid("cursor is not a cursor returned by this API");
        }
    }
}
