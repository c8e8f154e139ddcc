package dev.bulwark.bench;

import dev.bulwark.server.cli.ApiClient;
import io.vertx.core.Vertx;
import io.vertx.mqtt.MqttClient;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.TimeoutException;

/**
 * How long the cluster takes to act as one, measured from outside: devices on one node, the action on another,
 * the instant the device's connection closes. Each attempt uses a device of its own, idle (no load runs); an
 * attempt whose connection is still open after the timeout counts as not closed, and when none of the first
 * three attempts closed the measurement stops early (the cluster does not do it at all).
 */
final class CrossNodeLatency implements AutoCloseable {
    /**
     * @param latency   the attempts that closed
     * @param attempts  attempts made
     * @param notClosed attempts whose connection was still open after the timeout
     * @param failed    attempts that went wrong otherwise (a connect refused, ...); {@code problem} says how
     */
    record Outcome(Samples latency, int attempts, int notClosed, int failed, String problem) {
    }

    /** One attempt: the nanoseconds it measured, or null when the connection was not closed in time. */
    private interface Attempt {
        Long run(QosLoad.Device d) throws Exception;
    }

    private final Vertx vertx = Vertx.vertx();
    private final Path ca;
    private final Duration timeout;

    CrossNodeLatency(Path ca, Duration timeout) {
        this.ca = ca;
        this.timeout = timeout;
    }

    Duration timeout() {
        return timeout;
    }

    /**
     * Quarantine: each device connects to its own node; an operator quarantines it through {@code api} (another
     * node's REST API); the time from the request sent to the device's connection closed. The quarantine is lifted
     * afterwards (credentials are not revoked), so the device is as before.
     */
    Outcome quarantine(List<QosLoad.Device> devices, ApiClient api, String token) {
        return measure(devices, d -> {
            Connection c = connect(d, d.port());
            try {
                long t0 = System.nanoTime();
                ApiClient.Result r = api.post("/api/v1/devices/" + d.id() + "/quarantine", token,
                        Map.of("reason", "benchmark: cross-node quarantine latency", "revokeCredentials", false));
                if (r.status() != 200) {
                    throw new IllegalStateException("quarantine refused: HTTP " + r.status() + " " + r.body());
                }
                Long closed = c.closedWithin(timeout);
                ApiClient.Result lift = api.delete("/api/v1/devices/" + d.id() + "/quarantine", token);
                if (lift.status() != 200) {
                    throw new IllegalStateException("lifting the quarantine refused: HTTP " + lift.status() + " " + lift.body());
                }
                return closed == null ? null : closed - t0;
            } finally {
                c.disconnect();
            }
        });
    }

    /**
     * Takeover: each device connects to {@code firstPort}, then the same identity to {@code secondPort}; the time
     * from the second CONNACK to the first connection closed (0 when it closed before that CONNACK arrived).
     */
    Outcome takeover(List<QosLoad.Device> devices, int firstPort, int secondPort) {
        return measure(devices, d -> {
            Connection first = connect(d, firstPort);
            try {
                Connection second = connect(d, secondPort);
                try {
                    Long closed = first.closedWithin(timeout);
                    return closed == null ? null : Math.max(0, closed - second.connackNanos());
                } finally {
                    second.disconnect();
                }
            } finally {
                first.disconnect();
            }
        });
    }

    private Outcome measure(List<QosLoad.Device> devices, Attempt attempt) {
        List<Long> samples = new ArrayList<>();
        int attempts = 0;
        int notClosed = 0;
        int failed = 0;
        String problem = null;
        for (QosLoad.Device d : devices) {
            attempts++;
            try {
                Long nanos = attempt.run(d);
                if (nanos == null) {
                    notClosed++;
                } else {
                    samples.add(nanos);
                }
            } catch (Exception e) {
                failed++;
                problem = problem != null ? problem : d.id() + ": " + e.getMessage();
            }
            if (giveUp(attempts, notClosed + failed)) {
                break;
            }
        }
        return new Outcome(Samples.of(samples.stream().mapToLong(Long::longValue).toArray()), attempts, notClosed, failed, problem);
    }

    /** Three attempts and none closed: the cluster does not do it. */
    private static boolean giveUp(int attempts, int unsuccessful) {
        return attempts == 3 && unsuccessful == 3;
    }

    /** A device's connection: the client, when its CONNACK arrived, and when it closed. */
    private record Connection(MqttClient client, long connackNanos, CompletableFuture<Long> closed) {
        void disconnect() throws Exception {
            if (client.isConnected()) {
                client.disconnect().toCompletionStage().toCompletableFuture().get(10, TimeUnit.SECONDS);
            }
        }

        /** The instant it closed, or null when it is still open after {@code timeout}. */
        Long closedWithin(Duration timeout) throws Exception {
            try {
                return closed.get(timeout.toMillis(), TimeUnit.MILLISECONDS);
            } catch (TimeoutException e) {
                return null;
            }
        }
    }

    private Connection connect(QosLoad.Device d, int port) throws Exception {
        MqttClient c = MqttClient.create(vertx, QosLoad.options(d, ca, 1));
        CompletableFuture<Long> closed = new CompletableFuture<>();
        c.closeHandler(v -> closed.complete(System.nanoTime()));
        c.exceptionHandler(e -> { });
        CompletableFuture<Long> connack = new CompletableFuture<>();
        c.connect(port, "localhost").onComplete(ar -> {
            if (ar.succeeded()) {
                connack.complete(System.nanoTime());
            } else {
                connack.completeExceptionally(ar.cause());
            }
        });
        try {
            return new Connection(c, connack.get(30, TimeUnit.SECONDS), closed);
        } catch (java.util.concurrent.ExecutionException e) {
            throw new IllegalStateException("connect to port " + port + " failed: " + e.getCause().getMessage(), e.getCause());
        }
    }

    @Override
    public void close() throws Exception {
        vertx.close().toCompletionStage().toCompletableFuture().get(30, TimeUnit.SECONDS);
    }
}
