package dev.bulwark.server.core;

/**
 * A request that Bulwark refuses, with a reason that is safe to show to the caller: it names what was
 * wrong with the request, never a secret, another tenant's object or an internal detail.
 * Services throw it; the HTTP layer turns it into an RFC 9457 problem with a stable type.
 */
public final class Refusal extends RuntimeException {

    /** The kind of refusal; each maps to one HTTP status and one problem type. */
    public enum Kind {
        MALFORMED(400, "malformed-request", "Malformed request"),
        UNAUTHENTICATED(401, "unauthenticated", "Authentication required"),
        FORBIDDEN(403, "forbidden", "Not permitted"),
        NOT_FOUND(404, "not-found", "Not found"),
        METHOD_NOT_ALLOWED(405, "method-not-allowed", "Method not allowed"),
        CONFLICT(409, "conflict", "Conflict"),
        TOO_LARGE(413, "payload-too-large", "Request body too large"),
        UNSUPPORTED_MEDIA_TYPE(415, "unsupported-media-type", "Unsupported media type"),
        INVALID(422, "invalid-request", "Invalid request");

        public final int status;
        public final String slug;
        public final String title;

        Kind(int status, String slug, String title) {
            this.status = status;
            this.slug = slug;
            this.title = title;
        }

        /** The stable problem type URI. */
        public String type() {
            return "urn:bulwark:problem:" + slug;
        }
    }

    private final Kind kind;

    public Refusal(Kind kind, String reason) {
        super(reason, null, false, false);
        this.kind = kind;
    }

    public Kind kind() {
        return kind;
    }

    public String reason() {
        return getMessage();
    }

    public static Refusal notFound() {
        return new Refusal(Kind.NOT_FOUND, "no such resource");
    }

    public static Refusal invalid(String reason) {
        return new Refusal(Kind.INVALID, reason);
    }

    public static Refusal conflict(String reason) {
        return new Refusal(Kind.CONFLICT, reason);
    }

    public static Refusal forbidden(String reason) {
        return new Refusal(Kind.FORBIDDEN, reason);
    }
}
