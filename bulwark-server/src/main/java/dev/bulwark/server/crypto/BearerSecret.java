package dev.bulwark.server.crypto;

import java.util.Optional;

/**
 * A server-generated bearer secret: {@code <kind>.<id>.<secret>}, where {@code id} (64 random bits, hex)
 * names the stored record and is not secret, and {@code secret} is 256 random bits (base64url). Only the
 * SHA-256 of the secret is stored; the full string is shown once, when it is created. A plain digest is
 * enough because the secret has full entropy: there is nothing to guess or to crack offline.
 *
 * <p>{@link #toString()} never prints the secret.
 */
public record BearerSecret(String kind, String id, String secret) {

    public static final String OPERATOR = "bwk";
    public static final String DEVICE = "bwd";

    public static BearerSecret generate(String kind) {
        return new BearerSecret(kind, Secrets.randomHex(8), Secrets.randomBase64Url(32));
    }

    /** Parses a presented token; empty when it does not have the expected shape. */
    public static Optional<BearerSecret> parse(String kind, String presented) {
        if (presented == null || presented.length() > 100) {
            return Optional.empty();
        }
        String[] parts = presented.split("\\.", -1);
        if (parts.length != 3 || !parts[0].equals(kind) || !parts[1].matches("[0-9a-f]{16}")
                || !parts[2].matches("[A-Za-z0-9_-]{43}")) {
            return Optional.empty();
        }
        return Optional.of(new BearerSecret(parts[0], parts[1], parts[2]));
    }

    /** The value given to the caller, once. */
    public String reveal() {
        return kind + "." + id + "." + secret;
    }

    /** The digest stored in the database. */
    public String digest() {
        return Secrets.sha256Hex(secret);
    }

    public boolean matches(String storedDigest) {
        return Secrets.constantTimeEquals(digest(), storedDigest);
    }

    @Override
    public String toString() {
        return kind + "." + id + ".<redacted>";
    }
}
