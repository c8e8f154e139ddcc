package dev.bulwark.protocol.firmware;

import com.fasterxml.jackson.core.JsonParser;
import com.fasterxml.jackson.core.StreamReadFeature;
import com.fasterxml.jackson.databind.DeserializationFeature;
import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.json.JsonMapper;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.Iterator;
import java.util.List;
import java.util.Map;

/**
 * The canonical JSON encoding that firmware signatures are computed over, so that signer and verifier hash
 * the same bytes whatever the transport did to whitespace or key order:
 *
 * <ul>
 *   <li>UTF-8, no whitespace outside strings;</li>
 *   <li>object members sorted by key (Java {@link String#compareTo}, i.e. by UTF-16 code units), keys unique;</li>
 *   <li>strings escape only {@code "}, {@code \} and control characters below U+0020 (as {@code \\u00xx},
 *       lower-case hex); everything else is written as is;</li>
 *   <li>numbers are integers only (no fractions, no exponents); {@code true}, {@code false}, {@code null}.</li>
 * </ul>
 *
 * Parsing is strict: duplicate keys and trailing content are refused.
 */
public final class Canonical {
    static final JsonMapper STRICT = JsonMapper.builder()
            .enable(StreamReadFeature.STRICT_DUPLICATE_DETECTION)
            .enable(DeserializationFeature.FAIL_ON_TRAILING_TOKENS)
            .enable(DeserializationFeature.USE_BIG_INTEGER_FOR_INTS)
            .disable(JsonParser.Feature.ALLOW_COMMENTS)
            .build();

    private Canonical() {
    }

    public static JsonNode parse(byte[] json) {
        try {
            JsonNode n = STRICT.readTree(json);
            if (n == null) {
                throw new FirmwareRejected("malformed", "empty document");
            }
            return n;
        } catch (IOException e) {
            String m = e instanceof com.fasterxml.jackson.core.JsonProcessingException j ? j.getOriginalMessage() : "unreadable";
            throw new FirmwareRejected("malformed", "not strict JSON: " + m);
        }
    }

    public static byte[] encode(JsonNode node) {
        StringBuilder sb = new StringBuilder();
        write(node, sb, 0);
        return sb.toString().getBytes(StandardCharsets.UTF_8);
    }

    private static void write(JsonNode n, StringBuilder sb, int depth) {
        if (depth > 32) {
            throw new FirmwareRejected("malformed", "nested too deeply");
        }
        if (n.isObject()) {
            List<String> keys = new ArrayList<>();
            for (Iterator<Map.Entry<String, JsonNode>> it = n.properties().iterator(); it.hasNext(); ) {
                keys.add(it.next().getKey());
            }
            keys.sort(String::compareTo);
            sb.append('{');
            for (int i = 0; i < keys.size(); i++) {
                if (i > 0) {
                    sb.append(',');
                }
                string(keys.get(i), sb);
                sb.append(':');
                write(n.get(keys.get(i)), sb, depth + 1);
            }
            sb.append('}');
        } else if (n.isArray()) {
            sb.append('[');
            for (int i = 0; i < n.size(); i++) {
                if (i > 0) {
                    sb.append(',');
                }
                write(n.get(i), sb, depth + 1);
            }
            sb.append(']');
        } else if (n.isTextual()) {
            string(n.asText(), sb);
        } else if (n.isIntegralNumber()) {
            sb.append(n.bigIntegerValue().toString());
        } else if (n.isBoolean()) {
            sb.append(n.booleanValue() ? "true" : "false");
        } else if (n.isNull()) {
            sb.append("null");
        } else {
            throw new FirmwareRejected("malformed", "only objects, arrays, strings, integers, booleans and null are allowed");
        }
    }

    private static void string(String s, StringBuilder sb) {
        sb.append('"');
        for (int i = 0; i < s.length(); i++) {
            char c = s.charAt(i);
            if (c == '"' || c == '\\') {
                sb.append('\\').append(c);
            } else if (c < 0x20) {
                sb.append(String.format("\\u%04x", (int) c));
            } else if (Character.isHighSurrogate(c) && i + 1 < s.length() && Character.isLowSurrogate(s.charAt(i + 1))) {
                sb.append(c).append(s.charAt(++i));
            } else if (Character.isSurrogate(c)) {
                throw new FirmwareRejected("malformed", "a string holds an unpaired surrogate");
            } else {
                sb.append(c);
            }
        }
        sb.append('"');
    }
}
