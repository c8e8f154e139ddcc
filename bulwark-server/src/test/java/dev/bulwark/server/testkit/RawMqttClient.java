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
 * A raw MQTT 3.1.1 client that writes packets byte by byte, so tests can send what well-behaved client
 * libraries refuse to send (wildcards in a PUBLISH topic, for one). Speaks over a real TLS socket with
 * the device's certificate.
 */
public final class RawMqttClient implements AutoCloseable {
    private final SSLSocket socket;
    private final OutputStream out;
    private final InputStream in;

    public RawMqttClient(int port, Path ca, Path cert, Path key) throws IOException {
        this(port, ca, cert, key, null);
    }

    /** A connection from the local address {@code from} (e.g. 127.0.0.2: another "place" on this machine). */
    public RawMqttClient(int port, Path ca, Path cert, Path key, String from) throws IOException {
        socket = (SSLSocket) (from == null ? Tls.clientFactory(ca, cert, key).createSocket("localhost", port)
                : Tls.clientFactory(ca, cert, key).createSocket(java.net.InetAddress.getByName("localhost"), port,
                        java.net.InetAddress.getByName(from), 0));
        socket.setSoTimeout(15_000);
        socket.startHandshake();
        out = socket.getOutputStream();
        in = socket.getInputStream();
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
