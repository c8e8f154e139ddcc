package dev.bulwark.server.http;

/** What a route handler answers: a status and a body that is serialised as JSON (null for none), or {@link Text}. */
public record Response(int status, Object body) {
    public static Response ok(Object body) {
        return new Response(200, body);
    }

    public static Response created(Object body) {
        return new Response(201, body);
    }

    public static Response noContent() {
        return new Response(204, null);
    }

    /** A body sent as it is, with its own media type (e.g. the Prometheus text format). */
    public record Text(String contentType, String text) {
    }

    public static Response text(String contentType, String text) {
        return new Response(200, new Text(contentType, text));
    }
}
