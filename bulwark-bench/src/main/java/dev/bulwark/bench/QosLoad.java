package dev.bulwark.bench;

import io.netty.handler.codec.mqtt.MqttQoS;
import io.vertx.core.Context;
import io.vertx.core.Vertx;
import io.vertx.core.buffer.Buffer;
import io.vertx.core.net.PemKeyCertOptions;
import io.vertx.core.net.PemTrustOptions;
import io.vertx.mqtt.MqttClient;
import io.vertx.mqtt.MqttClientOptions;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.Semaphore;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.concurrent.atomic.AtomicLong;
import java.util.concurrent.atomic.AtomicLongArray;

/**
 * The load generator of the MQTT benchmarks: certified devices, each on its own mutual-TLS connection to the
 * node given for it, publishing QoS 1 telemetry with a fixed window of messages in flight (each PUBACK sends
 * the next). PUBACK latency is measured at the device, from PUBLISH written to PUBACK received.
 *
 * <p>Use: {@link #connect}, {@link #startPublishing()}, then {@link #beginMeasuring()} and {@link #endMeasuring()}
 * around the measured interval, {@link #stopPublishing()}, {@link #close()}.
 */
final class QosLoad implements AutoCloseable {
    private static final int MAX_SAMPLES = 8_000_000;

    /** One simulated device: its id, certificate and key, and the node (index, MQTT port) it connects to. */
    record Device(String id, Path cert, Path key, int node, int port) {
    }

    /**
     * One measured interval.
     *
     * @param startNanos   {@link System#nanoTime()} when it began
     * @param endNanos     ... and ended
     * @param ackedPerNode PUBACKs received in the interval, per node index
     * @param latency      PUBACK latency of each of them
     * @param errors       publishes that failed and connection errors (since the start)
     */
    record Result(long startNanos, long endNanos, long[] ackedPerNode, Samples latency, long errors) {
        double seconds() {
            return (endNanos - startNanos) / 1e9;
        }

        long acked() {
            return Arrays.stream(ackedPerNode).sum();
        }

        double acksPerSecond() {
            return acked() / seconds();
        }
    }

    private final Vertx vertx = Vertx.vertx();
    private final List<Device> devices;
    private final MqttClient[] clients;
    private final Context[] contexts;
    private final String[] topics;
    /** Per device, the send instant of each message in flight by packet id; only touched on the client's context. */
    private final List<Map<Integer, Long>> sent;
    private final int window;
    private final Buffer body;
    private final TimeLog acks;
    private final AtomicLong errors = new AtomicLong();
    private final AtomicBoolean running = new AtomicBoolean();
    private final AtomicLongArray ackedPerNode;
    private final AtomicLongArray latencies = new AtomicLongArray(MAX_SAMPLES);
    private final AtomicInteger latencyCount = new AtomicInteger();
    private volatile boolean measuring;
    private long measureStart;

    /**
     * @param ca      the platform CA the nodes' certificates chain to
     * @param nodes   how many nodes the devices are spread over (node indexes 0..nodes-1)
     * @param acks    where to record the instant of every PUBACK of each device (in order), or null
     */
    QosLoad(List<Device> devices, Path ca, int window, int payload, int nodes, TimeLog acks) {
        this.devices = List.copyOf(devices);
        this.window = window;
        this.acks = acks;
        this.ackedPerNode = new AtomicLongArray(nodes);
        byte[] b = new byte[payload];
        Arrays.fill(b, (byte) 'x');
        this.body = Buffer.buffer(b);
        int n = devices.size();
        clients = new MqttClient[n];
        contexts = new Context[n];
        topics = new String[n];
        sent = new ArrayList<>(n);
        for (int i = 0; i < n; i++) {
            Device d = devices.get(i);
            topics[i] = "devices/" + d.id() + "/telemetry";
            clients[i] = MqttClient.create(vertx, options(d, ca, window));
            sent.add(new HashMap<>());
            install(i);
        }
    }

    /** The client options of a device: mutual TLS, the server's name checked against the platform CA. */
    static MqttClientOptions options(Device d, Path ca, int window) {
        MqttClientOptions o = new MqttClientOptions().setClientId(d.id()).setCleanSession(true).setMaxInflightQueue(window * 2)
                .setKeepAliveInterval(60).setAutoKeepAlive(true);
        o.setSsl(true).setHostnameVerificationAlgorithm("HTTPS")
                .setTrustOptions(new PemTrustOptions().addCertPath(ca.toString()))
                .setKeyCertOptions(new PemKeyCertOptions().addCertPath(d.cert().toString()).addKeyPath(d.key().toString()));
        return o;
    }

    private void install(int i) {
        MqttClient c = clients[i];
        int node = devices.get(i).node();
        c.publishCompletionHandler(id -> {
            long now = System.nanoTime();
            Long t = sent.get(i).remove(id);
            if (acks != null) {
                acks.add(i, now);
            }
            if (t != null && measuring) {
                ackedPerNode.incrementAndGet(node);
                int k = latencyCount.getAndIncrement();
                if (k < MAX_SAMPLES) {
                    latencies.set(k, now - t);
                }
            }
            publish(i);
        });
        c.exceptionHandler(e -> errors.incrementAndGet());
    }

    private void publish(int i) {
        MqttClient c = clients[i];
        if (!running.get() || !c.isConnected()) {
            return;
        }
        long t = System.nanoTime();
        c.publish(topics[i], body, MqttQoS.AT_LEAST_ONCE, false, false).onComplete(ar -> {
            if (ar.succeeded()) {
                sent.get(i).put(ar.result(), t);
            } else {
                errors.incrementAndGet();
            }
        });
    }

    /**
     * Connects every device, at most {@code concurrency} handshakes at a time, and waits for all (5 minutes at
     * most); {@code connectNanos[i]} gets device i's connect time (TLS handshake, CONNECT, CONNACK).
     *
     * @return how many failed
     */
    long connect(int concurrency, long[] connectNanos) throws InterruptedException {
        Semaphore inFlight = new Semaphore(concurrency);
        CountDownLatch done = new CountDownLatch(clients.length);
        AtomicLong failed = new AtomicLong();
        for (int i = 0; i < clients.length; i++) {
            inFlight.acquire();
            int n = i;
            long t = System.nanoTime();
            clients[i].connect(devices.get(i).port(), "localhost").onComplete(ar -> {
                connectNanos[n] = System.nanoTime() - t;
                contexts[n] = Vertx.currentContext();
                if (ar.failed()) {
                    failed.incrementAndGet();
                }
                inFlight.release();
                done.countDown();
            });
        }
        done.await(300, TimeUnit.SECONDS);
        errors.addAndGet(failed.get());
        return failed.get();
    }

    /** Disconnects every connected device and waits for it. */
    void disconnect() throws Exception {
        for (MqttClient c : clients) {
            if (c.isConnected()) {
                c.disconnect().toCompletionStage().toCompletableFuture().get(30, TimeUnit.SECONDS);
            }
        }
    }

    /** Errors so far: failed connects and publishes, connection errors. */
    long errors() {
        return errors.get();
    }

    /** Every connected device starts its window of messages. */
    void startPublishing() {
        running.set(true);
        for (int i = 0; i < clients.length; i++) {
            if (clients[i].isConnected() && contexts[i] != null) {
                int n = i;
                contexts[i].runOnContext(v -> {
                    for (int w = 0; w < window; w++) {
                        publish(n);
                    }
                });
            }
        }
    }

    void beginMeasuring() {
        measureStart = System.nanoTime();
        measuring = true;
    }

    Result endMeasuring() {
        measuring = false;
        long end = System.nanoTime();
        int n = Math.min(latencyCount.get(), MAX_SAMPLES);
        long[] l = new long[n];
        for (int i = 0; i < n; i++) {
            l[i] = latencies.get(i);
        }
        long[] perNode = new long[ackedPerNode.length()];
        for (int i = 0; i < perNode.length; i++) {
            perNode[i] = ackedPerNode.get(i);
        }
        return new Result(measureStart, end, perNode, Samples.of(l), errors.get());
    }

    /** No device sends another message; those in flight are still acknowledged. */
    void stopPublishing() {
        running.set(false);
    }

    @Override
    public void close() throws Exception {
        running.set(false);
        for (MqttClient c : clients) {
            if (c.isConnected()) {
                c.disconnect();
            }
        }
        vertx.close().toCompletionStage().toCompletableFuture().get(30, TimeUnit.SECONDS);
    }
}
