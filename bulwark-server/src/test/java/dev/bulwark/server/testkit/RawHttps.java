package dev.bulwark.server.testkit;

import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.io.InputStream;
import java.io.UncheckedIOException;
import java.net.SocketTimeoutException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.util.LinkedHashMap;
import java.util.Locale;
import java.util.Map;
import javax.net.ssl.SSLSocket;
import javax.net.ssl.SSLSocketFactory;

/**
 * An HTTPS client that writes exactly the bytes a test gives it (no header fixing, no framing of its own) and
 * reads responses byte by byte, as an attacker's tool would. For framing and pre-authentication tests.
 */
public final class RawHttps implements AutoCloseable {
    private final SSLSocket socket;
    private final InputStream in;

    private RawHttps(SSLSocket socket) throws IOException {
        this.socket = socket;
        this.in = socket.getInputStream();
    }

    /** Connects to {@code localhost:port} over TLS 1.3, trusting {@code ca}, optionally with a client certificate. */
    public static RawHttps connect(int port, Path ca, Path cert, Path key) {
        try {
            SSLSocketFactory f = Tls.clientFactory(ca, cert, key);
            SSLSocket s = (SSLSocket) f.createSocket("localhost", port);
            s.setSoTimeout(10_000);
            s.startHandshake();
            return new RawHttps(s);
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }

    public static RawHttps connect(int port, Path ca) {
        return connect(port, ca, null, null);
    }

    /** The local port of this connection (the source port the server sees). */
    public int localPort() {
        return socket.getLocalPort();
    }

    public RawHttps write(String ascii) {
        return write(ascii.getBytes(StandardCharsets.ISO_8859_1));
    }

    public RawHttps write(byte[] bytes) {
        try {
            socket.getOutputStream().write(bytes);
            socket.getOutputStream().flush();
            return this;
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }

    /** One response: status, headers (lower-case names) and a body framed by Content-Length. */
    public record Response(int status, Map<String, String> headers, String body) {
    }

    /** Reads one response (Content-Length framed, as the servers answer refusals). */
    public Response read() {
        try {
            String head = readHead();
            String[] lines = head.split("\r\n");
            int status = Integer.parseInt(lines[0].split(" ")[1]);
            Map<String, String> headers = new LinkedHashMap<>();
            for (int i = 1; i < lines.length; i++) {
                int c = lines[i].indexOf(':');
                headers.put(lines[i].substring(0, c).trim().toLowerCase(Locale.ROOT), lines[i].substring(c + 1).trim());
            }
            int length = Integer.parseInt(headers.getOrDefault("content-length", "0"));
            byte[] body = in.readNBytes(length);
            return new Response(status, headers, new String(body, StandardCharsets.UTF_8));
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }

    private String readHead() throws IOException {
        ByteArrayOutputStream b = new ByteArrayOutputStream();
        int n;
        while ((n = in.read()) >= 0) {
            b.write(n);
            byte[] a = b.toByteArray();
            int l = a.length;
            if (l >= 4 && a[l - 4] == '\r' && a[l - 3] == '\n' && a[l - 2] == '\r' && a[l - 1] == '\n') {
                return new String(a, StandardCharsets.ISO_8859_1);
            }
        }
        throw new IOException("connection closed before a response; got: " + b.toString(StandardCharsets.ISO_8859_1));
    }

    /**
     * True when the server closed the connection: a read ends (end of stream, or a reset) within the socket
     * timeout, having received nothing more. False when more bytes arrive or the connection stays open.
     */
    public boolean closedByServer() {
        try {
            return in.read() < 0;
        } catch (SocketTimeoutException e) {
            return false;
        } catch (IOException e) {
            return true; // reset, or a TLS close without close_notify
        }
    }

    @Override
    public void close() {
        try {
            socket.close();
        } catch (IOException e) {
            // closing
        }
    }
}
