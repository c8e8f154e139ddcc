package dev.bulwark.server.http;

/**
 * What a route handler answers: a status and a body that is serialised as JSON (null for none), or {@link Text},
 * or {@link Streamed}.
 */
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

    /**
     * A body written while it is produced (chunked), never held whole: e.g. an export decrypted as it streams.
     * {@link #writeTo} runs on the worker thread of the call; what it writes is sent with back-pressure, and a
     * failure after the first byte resets the connection, so a client never takes a cut-off body for a whole one.
     */
    public interface Streamed {
        String contentType();

        void writeTo(java.io.OutputStream out) throws java.io.IOException;
    }

    public static Response stream(String contentType, java.io.InputStream in) {
        return new Response(200, new Streamed() {
            @Override
            public String contentType() {
                return contentType;
            }

            @Override
            public void writeTo(java.io.OutputStream out) throws java.io.IOException {
                try (in) {
                    in.transferTo(out);
                }
            }
        });
    }
}
