package dev.bulwark.server.cluster;

import dev.bulwark.server.testkit.RawMqttClient;
import dev.bulwark.server.testkit.TestServer;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.file.Path;
import java.util.concurrent.CompletableFuture;

/**
 * One device's MQTT connection over TLS to one node of a cluster, from a local address of its own (a "place"
 * on this machine), watched from the moment it is accepted: {@link #closedAtNanos()} completes when the server
 * closes it.
 */
final class DeviceConnection implements AutoCloseable {
    private final RawMqttClient client;
    private final int connack;
    private final String from;
    private final CompletableFuture<Long> closed = new CompletableFuture<>();

    private DeviceConnection(TestServer node, Path ca, Path cert, Path key, String from, String clientId, String user, String password) {
        this.from = from;
        try {
            this.client = new RawMqttClient(node.node().mqttPort(), ca, cert, key, from);
            this.connack = client.connect(clientId, user, password);
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
        if (connack == 0) {
            Thread watch = new Thread(() -> {
                while (!client.closedByServer()) {
                    // the read timed out with the connection still open: go on watching
                }
                closed.complete(System.nanoTime());
            }, "watch-" + clientId);
            watch.setDaemon(true);
            watch.start();
        } else {
            closed.complete(System.nanoTime());
        }
    }

    /** Connects with the device's certificate. */
    static DeviceConnection certificate(TestServer node, Path ca, Path cert, Path key, String clientId, String from) {
        return new DeviceConnection(node, ca, cert, key, from, clientId, null, null);
    }

    /** Connects with a device token ({@code device@tenant} as user name). */
    static DeviceConnection token(TestServer node, Path ca, String clientId, String user, String token, String from) {
        return new DeviceConnection(node, ca, null, null, from, clientId, user, token);
    }

    int connack() {
        return connack;
    }

    /** The source the server sees, {@code address:port}. */
    String source() {
        return from + ":" + client.localPort();
    }

    CompletableFuture<Long> closedAtNanos() {
        return closed;
    }

    boolean open() {
        return !closed.isDone();
    }

    @Override
    public void close() {
        try {
            client.close();
        } catch (IOException e) {
            // already closed
        }
    }
}
