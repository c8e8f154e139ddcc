package dev.bulwark.protocol.firmware;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.JsonNodeFactory;
import com.fasterxml.jackson.databind.node.ObjectNode;
import java.security.PublicKey;
import java.time.Instant;
import java.time.format.DateTimeParseException;
import java.util.ArrayList;
import java.util.Base64;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * The three firmware metadata documents (format version {@value #SPEC}); see {@code docs/firmware-metadata.md}.
 *
 * <ul>
 *   <li><b>root</b> (per tenant): the release public keys and the threshold {@code k} of the {@code release}
 *       role, and the online {@code timestamp} key. Signed by {@code k} release keys; a new root also by
 *       {@code k} keys of the previous one.</li>
 *   <li><b>targets</b> (per release): model, compatible hardware, version string, monotonic version number,
 *       image SHA-256 and length, expiry. Signed by {@code k} release keys, offline.</li>
 *   <li><b>timestamp</b>: the digest and version number of the current targets and a short expiry, signed by
 *       the server's online key: a device that sees no fresh timestamp knows updates are withheld.</li>
 * </ul>
 */
public final class FirmwareMetadata {
    public static final int SPEC = 1;
    private static final JsonNodeFactory F = JsonNodeFactory.instance;

    private FirmwareMetadata() {
    }

    /** A role: the keys allowed to sign for it and how many must. */
    public record Role(List<String> keyids, int threshold) {
    }

    /** A verified-shape root. */
    public record Root(String tenant, long version, Instant expires, Map<String, PublicKey> keys, Role release, Role timestamp) {
    }

    /** A verified-shape targets document. */
    public record Targets(String tenant, String model, List<String> hardware, String version, long versionNumber, String sha256,
                          long length, Instant expires) {
    }

    /** A verified-shape timestamp. */
    public record Timestamp(String tenant, String targets, long versionNumber, Instant expires) {
    }

    public static ObjectNode root(String tenant, long version, Instant expires, List<PublicKey> releaseKeys, int threshold,
                                  List<PublicKey> timestampKeys) {
        if (threshold < 1 || threshold > releaseKeys.size()) {
            throw new IllegalArgumentException("the threshold must be between 1 and the number of release keys");
        }
        ObjectNode o = F.objectNode();
        o.put("type", "root").put("spec", SPEC).put("tenant", tenant).put("version", version).put("expires", expires.toString());
        ObjectNode keys = o.putObject("keys");
        ObjectNode roles = o.putObject("roles");
        ArrayNode rel = roles.putObject("release").put("threshold", threshold).putArray("keyids");
        for (PublicKey k : releaseKeys) {
            keys.put(ReleaseKeys.keyId(k), Base64.getEncoder().encodeToString(ReleaseKeys.raw(k)));
            rel.add(ReleaseKeys.keyId(k));
        }
        ArrayNode ts = roles.putObject("timestamp").put("threshold", 1).putArray("keyids");
        for (PublicKey k : timestampKeys) {
            keys.put(ReleaseKeys.keyId(k), Base64.getEncoder().encodeToString(ReleaseKeys.raw(k)));
            ts.add(ReleaseKeys.keyId(k));
        }
        return o;
    }

    public static ObjectNode targets(String tenant, String model, List<String> hardware, String version, long versionNumber,
                                     String sha256, long length, Instant expires) {
        ObjectNode o = F.objectNode();
        o.put("type", "targets").put("spec", SPEC).put("tenant", tenant).put("model", model);
        ArrayNode hw = o.putArray("hardware");
        hardware.forEach(hw::add);
        o.put("version", version).put("versionNumber", versionNumber);
        o.putObject("image").put("sha256", sha256).put("length", length);
        o.put("expires", expires.toString());
        return o;
    }

    public static ObjectNode timestamp(String tenant, Envelope targets, long versionNumber, Instant expires) {
        ObjectNode o = F.objectNode();
        o.put("type", "timestamp").put("spec", SPEC).put("tenant", tenant).put("targets", targets.digest())
                .put("versionNumber", versionNumber).put("expires", expires.toString());
        return o;
    }

    static Root parseRoot(JsonNode s) {
        expectType(s, "root");
        Map<String, PublicKey> keys = new LinkedHashMap<>();
        JsonNode k = s.path("keys");
        if (!k.isObject() || k.size() > 64) {
            throw new FirmwareRejected("malformed", "root keys must be an object of at most 64 keys");
        }
        for (var e : k.properties()) {
            byte[] raw;
            try {
                raw = Base64.getDecoder().decode(e.getValue().asText());
            } catch (IllegalArgumentException x) {
                throw new FirmwareRejected("malformed", "a root key is not base64");
            }
            if (!ReleaseKeys.keyId(raw).equals(e.getKey())) {
                throw new FirmwareRejected("malformed", "a root key's id does not match the key");
            }
            keys.put(e.getKey(), ReleaseKeys.fromRaw(raw));
        }
        Role release = role(s.path("roles").path("release"), keys);
        Role timestamp = role(s.path("roles").path("timestamp"), keys);
        for (String id : timestamp.keyids()) {
            if (release.keyids().contains(id)) {
                throw new FirmwareRejected("malformed", "the online timestamp key must not be a release key");
            }
        }
        return new Root(text(s, "tenant"), number(s, "version"), instant(s, "expires"), Map.copyOf(keys), release, timestamp);
    }

    static Targets parseTargets(JsonNode s) {
        expectType(s, "targets");
        List<String> hw = new ArrayList<>();
        if (!s.path("hardware").isArray() || s.get("hardware").isEmpty()) {
            throw new FirmwareRejected("malformed", "targets.hardware must list at least one hardware revision");
        }
        s.get("hardware").forEach(h -> hw.add(h.asText()));
        JsonNode img = s.path("image");
        String sha = text(img, "sha256");
        if (!sha.matches("[0-9a-f]{64}")) {
            throw new FirmwareRejected("malformed", "targets.image.sha256 must be 64 lower-case hex digits");
        }
        return new Targets(text(s, "tenant"), text(s, "model"), List.copyOf(hw), text(s, "version"), number(s, "versionNumber"), sha,
                number(img, "length"), instant(s, "expires"));
    }

    static Timestamp parseTimestamp(JsonNode s) {
        expectType(s, "timestamp");
        return new Timestamp(text(s, "tenant"), text(s, "targets"), number(s, "versionNumber"), instant(s, "expires"));
    }

    private static Role role(JsonNode r, Map<String, PublicKey> keys) {
        if (!r.path("keyids").isArray() || !r.path("threshold").isIntegralNumber() || !r.path("threshold").canConvertToInt()) {
            throw new FirmwareRejected("malformed", "a role is {\"keyids\": [...], \"threshold\": k}");
        }
        List<String> ids = new ArrayList<>();
        for (JsonNode id : r.get("keyids")) {
            if (!keys.containsKey(id.asText()) || ids.contains(id.asText())) {
                throw new FirmwareRejected("malformed", "a role names an unknown or repeated key");
            }
            ids.add(id.asText());
        }
        int threshold = r.get("threshold").asInt();
        if (threshold < 1 || threshold > ids.size()) {
            throw new FirmwareRejected("malformed", "a role's threshold must be between 1 and its number of keys");
        }
        return new Role(List.copyOf(ids), threshold);
    }

    private static void expectType(JsonNode s, String type) {
        JsonNode spec = s.path("spec");
        // an integer that is exactly SPEC: asInt() alone would read "1" (a string) or 2^32 + 1 as 1
        if (!s.isObject() || !type.equals(s.path("type").asText()) || !spec.isIntegralNumber() || !spec.canConvertToInt()
                || spec.asInt() != SPEC) {
            throw new FirmwareRejected("malformed", "expected a " + type + " document of format version " + SPEC);
        }
    }

    private static String text(JsonNode n, String field) {
        JsonNode v = n.path(field);
        if (!v.isTextual() || v.asText().isEmpty() || v.asText().length() > 200) {
            throw new FirmwareRejected("malformed", field + " must be a non-empty string");
        }
        return v.asText();
    }

    private static long number(JsonNode n, String field) {
        JsonNode v = n.path(field);
        if (!v.isIntegralNumber() || !v.canConvertToLong() || v.asLong() < 0) {
            throw new FirmwareRejected("malformed", field + " must be a non-negative integer");
        }
        return v.asLong();
    }

    private static Instant instant(JsonNode n, String field) {
        try {
            return Instant.parse(text(n, field));
        } catch (DateTimeParseException e) {
            throw new FirmwareRejected("malformed", field + " must be an ISO-8601 instant");
        }
    }
}
