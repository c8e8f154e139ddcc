package dev.bulwark.protocol;

import java.util.regex.Pattern;

/**
 * The grammar of every identifier Bulwark accepts from outside.
 *
 * <p>Identifiers end up in MQTT topic levels, URL path segments, certificate subjects and log lines, so
 * the grammar excludes everything that has a meaning in one of those places: {@code / + # $ @ :},
 * whitespace, control characters, percent-encoding and non-ASCII look-alikes.
 *
 * <ul>
 *   <li>tenant id: 2–32 characters, lower-case letters, digits and {@code -}, starting with a letter
 *       and not ending with {@code -};</li>
 *   <li>device id: 1–64 characters, letters, digits, {@code . _ -}, starting with a letter or digit;
 *       ids that are a bare MAC address or EUI-64 (12 or 16 hex digits, with or without separators)
 *       are refused, because an identifier derived from a hardware address is guessable;</li>
 *   <li>model id and operator name: 1–64 characters, lower-case letters, digits, {@code . _ -},
 *       starting with a letter or digit.</li>
 * </ul>
 */
public final class IdGrammar {
    private static final Pattern TENANT = Pattern.compile("[a-z][a-z0-9-]{0,30}[a-z0-9]");
    private static final Pattern DEVICE = Pattern.compile("[A-Za-z0-9][A-Za-z0-9._-]{0,63}");
    private static final Pattern LOWER_NAME = Pattern.compile("[a-z0-9][a-z0-9._-]{0,63}");
    private static final Pattern HARDWARE_ADDRESS =
            Pattern.compile("(?i)([0-9a-f]{2}[-_.]?){5}[0-9a-f]{2}|([0-9a-f]{2}[-_.]?){7}[0-9a-f]{2}");

    private IdGrammar() {
    }

    public static String tenant(String field, String value) {
        require(field, value);
        if (!TENANT.matcher(value).matches()) {
            throw new InvalidIdException(field, "must be 2-32 characters of a-z, 0-9 and '-', start with a letter and not end with '-'");
        }
        return value;
    }

    public static String device(String field, String value) {
        require(field, value);
        if (!DEVICE.matcher(value).matches()) {
            throw new InvalidIdException(field, "must be 1-64 characters of A-Z, a-z, 0-9, '.', '_' and '-', starting with a letter or digit");
        }
        if (HARDWARE_ADDRESS.matcher(value).matches()) {
            throw new InvalidIdException(field, "must not be a bare MAC address or EUI-64: identifiers derived from hardware addresses are guessable");
        }
        return value;
    }

    public static String lowerName(String field, String value) {
        require(field, value);
        if (!LOWER_NAME.matcher(value).matches()) {
            throw new InvalidIdException(field, "must be 1-64 characters of a-z, 0-9, '.', '_' and '-', starting with a letter or digit");
        }
        return value;
    }

    private static void require(String field, String value) {
        if (value == null || value.isEmpty()) {
            throw new InvalidIdException(field, "is required");
        }
    }
}
