package dev.bulwark.server.testkit;

import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.net.SocketTimeoutException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import javax.net.ssl.SSLSocket;

/**
 * A raw MQTT client that writes packets byte by byte, so tests can send what well-behaved client
 * libraries refuse to send (wildcards in a PUBLISH topic, malformed packets, MQTT 5 protocol errors).
 * Speaks over a real TLS socket with the device's certificate (or none), or over plain TCP to the
 * development listener ({@link #plaintext}).
 */
public final class RawMqttClient implements AutoCloseable {
    private final java.net.Socket socket;
    private final OutputStream out;
    private final InputStream in;

    public RawMqttClient(int port, Path ca, Path cert, Path key) throws IOException {
        this(port, ca, cert, key, null);
    }

    /** A connection from the local address {@code from} (e.g. 127.0.0.2: another "place" on this machine). */
    public RawMqttClient(int port, Path ca, Path cert, Path key, String from) throws IOException {
        SSLSocket tls = (SSLSocket) (from == null ? Tls.clientFactory(ca, cert, key).createSocket("localhost", port)
                : Tls.clientFactory(ca, cert, key).createSocket(java.net.InetAddress.getByName("localhost"), port,
                        java.net.InetAddress.getByName(from), 0));
        tls.setSoTimeout(15_000);
        tls.startHandshake();
        socket = tls;
        out = socket.getOutputStream();
        in = socket.getInputStream();
    }

    private RawMqttClient(java.net.Socket plain) throws IOException {
        socket = plain;
        socket.setSoTimeout(15_000);
        out = socket.getOutputStream();
        in = socket.getInputStream();
    }

    /** A plain TCP connection (no TLS), from {@code from} when given. */
    public static RawMqttClient plaintext(int port, String from) throws IOException {
        java.net.Socket s = from == null ? new java.net.Socket("127.0.0.1", port)
                : new java.net.Socket(java.net.InetAddress.getByName("127.0.0.1"), port, java.net.InetAddress.getByName(from), 0);
        return new RawMqttClient(s);
    }

    /** The local port of this connection: the source port the server sees (and records). */
    public int localPort() {
        return socket.getLocalPort();
    }

    /** Writes {@code bytes} as they are (each int one byte), with no framing added. */
    public void send(int... bytes) throws IOException {
        byte[] b = new byte[bytes.length];
        for (int i = 0; i < bytes.length; i++) {
            b[i] = (byte) bytes[i];
        }
        out.write(b);
        out.flush();
    }

    /** Writes {@code bytes} as they are. */
    public void send(byte[] bytes) throws IOException {
        out.write(bytes);
        out.flush();
    }

    /**
     * Reads one whole packet (fixed header byte, remaining length, body); null when the server closed the
     * connection first (or within the socket timeout nothing came).
     */
    public byte[] readPacket() {
        try {
            int type = in.read();
            if (type < 0) {
                return null;
            }
            ByteArrayOutputStream p = new ByteArrayOutputStream();
            p.write(type);
            int len = 0;
            int multiplier = 1;
            int digit;
            do {
                digit = in.read();
                if (digit < 0) {
                    return null;
                }
                p.write(digit);
                len += (digit & 127) * multiplier;
                multiplier *= 128;
            } while ((digit & 128) != 0);
            byte[] body = in.readNBytes(len);
            if (body.length < len) {
                return null;
            }
            p.write(body);
            return p.toByteArray();
        } catch (IOException e) {
            return null;
        }
    }

    /** CONNECT with a clean session; returns the CONNACK return code. */
    public int connect(String clientId) throws IOException {
        return connect(clientId, null, null);
    }

    /** CONNECT with a clean session and, when given, a user name and password; returns the CONNACK return code. */
    public int connect(String clientId, String username, String password) throws IOException {
        ByteArrayOutputStream body = new ByteArrayOutputStream();
        string(body, "MQTT");
        body.write(4);          // protocol level 3.1.1
        body.write(0x02 | (username != null ? 0x80 : 0) | (password != null ? 0x40 : 0)); // clean session, credentials
        body.write(0);
        body.write(60);         // keep alive 60 s
        string(body, clientId);
        if (username != null) {
            string(body, username);
        }
        if (password != null) {
            string(body, password);
        }
        packet(0x10, body.toByteArray());
        int type = in.read();
        if (type < 0) {
            throw new IOException("connection closed before CONNACK");
        }
        int len = in.read();
        byte[] rest = in.readNBytes(len);
        if (type != 0x20 || rest.length != 2) {
            throw new IOException("expected CONNACK, got " + type);
        }
        return rest[1];
    }

    /** PUBLISH at QoS 1 with packet id 1, the topic taken as given (no client-side checks). */
    public void publishQos1(String topic, byte[] payload) throws IOException {
        ByteArrayOutputStream body = new ByteArrayOutputStream();
        string(body, topic);
        body.write(0);
        body.write(1);
        body.write(payload);
        packet(0x32, body.toByteArray());
    }

    /** True when the server closed the connection (end of stream or reset) within the socket timeout. */
    public boolean closedByServer() {
        try {
            while (true) {
                if (in.read() < 0) {
                    return true;
                }
            }
        } catch (SocketTimeoutException e) {
            return false;
        } catch (IOException e) {
            return true;
        }
    }

    private void packet(int header, byte[] body) throws IOException {
        out.write(header);
        int len = body.length;
        do {
            int b = len % 128;
            len /= 128;
            out.write(len > 0 ? b | 0x80 : b);
        } while (len > 0);
        out.write(body);
        out.flush();
    }

    private static void string(ByteArrayOutputStream o, String s) {
        byte[] b = s.getBytes(StandardCharsets.UTF_8);
        o.write(b.length >> 8);
        o.write(b.length & 0xff);
        o.write(b, 0, b.length);
    }

    @Override
    public void close() throws IOException {
        socket.close();
    }
}
