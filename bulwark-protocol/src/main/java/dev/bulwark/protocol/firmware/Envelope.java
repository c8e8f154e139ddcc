package dev.bulwark.protocol.firmware;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.JsonNodeFactory;
import com.fasterxml.jackson.databind.node.ObjectNode;
import java.security.PrivateKey;
import java.util.ArrayList;
import java.util.Base64;
import java.util.List;

/**
 * A signed metadata document: {@code {"signed": {...}, "signatures": [{"keyid": "...", "sig": "<base64>"}]}}.
 * Each signature is Ed25519 over {@link Canonical#encode the canonical bytes} of {@code signed}.
 */
public record Envelope(JsonNode signed, List<Sig> signatures) {

    /** One signature. */
    public record Sig(String keyid, byte[] sig) {
    }

    public Envelope {
        signatures = List.copyOf(signatures);
    }

    public static Envelope unsigned(JsonNode signed) {
        return new Envelope(signed, List.of());
    }

    public byte[] signedBytes() {
        return Canonical.encode(signed);
    }

    /** The document's digest: SHA-256 over the canonical signed bytes (what a timestamp refers to). */
    public String digest() {
        return ReleaseKeys.sha256Hex(signedBytes());
    }

    public String type() {
        return signed.path("type").asText("");
    }

    /** This envelope with one more signature by {@code key}. */
    public Envelope sign(PrivateKey key, String keyid) {
        List<Sig> all = new ArrayList<>(signatures);
        all.removeIf(s -> s.keyid().equals(keyid));
        all.add(new Sig(keyid, ReleaseKeys.sign(key, signedBytes())));
        return new Envelope(signed, all);
    }

    public static Envelope parse(byte[] json) {
        JsonNode n = Canonical.parse(json);
        if (!n.isObject() || !n.path("signed").isObject() || !n.path("signatures").isArray() || n.size() != 2) {
            throw new FirmwareRejected("malformed", "an envelope is {\"signed\": {...}, \"signatures\": [...]} and nothing else");
        }
        List<Sig> sigs = new ArrayList<>();
        for (JsonNode s : n.get("signatures")) {
            if (!s.path("keyid").isTextual() || !s.path("sig").isTextual() || sigs.size() > 64) {
                throw new FirmwareRejected("malformed", "a signature is {\"keyid\": \"...\", \"sig\": \"<base64>\"}");
            }
            try {
                sigs.add(new Sig(s.get("keyid").asText(), Base64.getDecoder().decode(s.get("sig").asText())));
            } catch (IllegalArgumentException e) {
                throw new FirmwareRejected("malformed", "a signature is not base64");
            }
        }
        return new Envelope(n.get("signed"), sigs);
    }

    public byte[] toJson() {
        ObjectNode o = JsonNodeFactory.instance.objectNode();
        o.set("signed", signed);
        ArrayNode a = o.putArray("signatures");
        for (Sig s : signatures) {
            a.addObject().put("keyid", s.keyid()).put("sig", Base64.getEncoder().encodeToString(s.sig()));
        }
        return Canonical.encode(o);
    }
}
