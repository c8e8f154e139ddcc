package dev.bulwark.server.http;

import io.vertx.core.buffer.Buffer;
import io.vertx.core.http.HttpServerResponse;
import java.io.IOException;
import java.io.OutputStream;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.TimeoutException;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Sends a {@link Response.Streamed} body in chunks of at most 64 KiB from the call's worker thread, one chunk in
 * flight at a time (each write is awaited), so a slow reader holds one chunk of memory, not the body. Never throws:
 * a failure before the first byte answers 500; after it, the connection is reset.
 */
final class StreamedBody {
    private static final Logger LOG = LoggerFactory.getLogger(StreamedBody.class);
    private static final int CHUNK = 64 * 1024;
    private static final long WRITE_TIMEOUT_S = 120;

    private StreamedBody() {
    }

    static void send(HttpServerResponse response, int status, Response.Streamed body) {
        response.setStatusCode(status).putHeader("Content-Type", body.contentType()).setChunked(true);
        Out out = new Out(response);
        try {
            body.writeTo(out);
            out.flushChunk();
            await(response.end());
        } catch (IOException | RuntimeException e) {
            String ref = dev.bulwark.server.crypto.Secrets.randomHex(6);
            LOG.error("streamed response failed after {} bytes [ref {}]: {}", out.sent, ref, e.toString());
            if (!response.headWritten()) {
                Problems.internal(response, ref);
            } else if (!response.ended() && !response.closed()) {
                response.reset();
            }
        }
    }

    private static void await(io.vertx.core.Future<Void> f) throws IOException {
        try {
            f.toCompletionStage().toCompletableFuture().get(WRITE_TIMEOUT_S, TimeUnit.SECONDS);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new IOException("interrupted while streaming");
        } catch (ExecutionException e) {
            throw new IOException("the client went away: " + e.getCause());
        } catch (TimeoutException e) {
            throw new IOException("the client read nothing for " + WRITE_TIMEOUT_S + " s");
        }
    }

    private static final class Out extends OutputStream {
        private final HttpServerResponse response;
        private final byte[] buf = new byte[CHUNK];
        private int n;
        long sent;

        Out(HttpServerResponse response) {
            this.response = response;
        }

        @Override
        public void write(int b) throws IOException {
            if (n == CHUNK) {
                flushChunk();
            }
            buf[n++] = (byte) b;
        }

        @Override
        public void write(byte[] b, int off, int len) throws IOException {
            while (len > 0) {
                if (n == CHUNK) {
                    flushChunk();
                }
                int k = Math.min(len, CHUNK - n);
                System.arraycopy(b, off, buf, n, k);
                n += k;
                off += k;
                len -= k;
            }
        }

        void flushChunk() throws IOException {
            if (n == 0) {
                return;
            }
            Buffer chunk = Buffer.buffer(n).appendBytes(buf, 0, n);
            n = 0;
            await(response.write(chunk));
            sent += chunk.length();
        }
    }
}
