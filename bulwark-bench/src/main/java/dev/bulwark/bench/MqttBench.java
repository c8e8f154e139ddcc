package dev.bulwark.bench;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import dev.bulwark.device.DeviceKeys;
import dev.bulwark.protocol.DeviceId;
import dev.bulwark.server.cli.ApiClient;
import dev.bulwark.server.config.DataDir;
import io.netty.handler.codec.mqtt.MqttQoS;
import io.vertx.core.Vertx;
import io.vertx.core.buffer.Buffer;
import io.vertx.core.net.PemKeyCertOptions;
import io.vertx.core.net.PemTrustOptions;
import io.vertx.mqtt.MqttClient;
import io.vertx.mqtt.MqttClientOptions;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.Callable;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.concurrent.Semaphore;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.concurrent.atomic.AtomicLong;
import java.util.concurrent.atomic.AtomicLongArray;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;

/**
 * {@code bulwark bench mqtt}: QoS 1 telemetry throughput, PUBACK latency and mutual-TLS connection set-up
 * rate of a Bulwark node, next to Mosquitto configured as a fair secure peer, measured in the same run on
 * the same machine with the same load generator and the same device certificates.
 *
 * <p>Bulwark runs in its own JVM ({@code serve} on a fresh data directory, embedded H2 unless {@code --db}),
 * committing every message durably before its PUBACK. Mosquitto runs with TLS, {@code require_certificate},
 * {@code use_identity_as_username}, the ACL {@code pattern readwrite devices/%u/#} and no persistence.
 * Devices are provisioned through Bulwark's real path: a P-256 key made on the "device", a CSR, a certificate.
 */
@Command(name = "mqtt", mixinStandardHelpOptions = true,
        description = "QoS 1 throughput, PUBACK latency and TLS connect rate: Bulwark next to Mosquitto.")
public final class MqttBench implements Callable<Integer> {
    @Option(names = "--devices", defaultValue = "1000", description = "Simulated devices, one mTLS connection each (default: ${DEFAULT-VALUE})")
    int devices;

    @Option(names = "--seconds", defaultValue = "20", description = "Measured publishing time per target (default: ${DEFAULT-VALUE})")
    int seconds;

    @Option(names = "--warmup", defaultValue = "15", description = "Publishing time before measuring, for every target: "
            + "a JVM server reaches its steady state once the JIT has compiled its hot paths (default: ${DEFAULT-VALUE})")
    int warmupSeconds;

    @Option(names = "--window", defaultValue = "4", description = "QoS 1 messages in flight per device (default: ${DEFAULT-VALUE})")
    int window;

    @Option(names = "--payload", defaultValue = "100", description = "Payload bytes (default: ${DEFAULT-VALUE})")
    int payload;

    @Option(names = "--connect-concurrency", defaultValue = "50", description = "Connects in progress at once (default: ${DEFAULT-VALUE})")
    int connectConcurrency;

    @Option(names = "--db", description = "JDBC URL for Bulwark (default: embedded H2)")
    String db;

    @Option(names = "--mosquitto", defaultValue = "/usr/sbin/mosquitto", description = "Mosquitto binary; 'none' to skip the peer")
    String mosquitto;

    @Option(names = "--only", description = "Run only this target: bulwark or mosquitto")
    String only;

    @Option(names = "--plaintext-payloads", description = "Start Bulwark storing payloads unencrypted (to measure what encryption costs)")
    boolean plaintextPayloads;

    record Result(String target, int devices, double connectsPerSecond, double connectP99Ms, double acksPerSecond,
                  double p50Ms, double p99Ms, long acked, long errors) {
    }

    @Override
    public Integer call() throws Exception {
        Path dir = Files.createTempDirectory("bulwark-bench-mqtt");
        Process bulwark = startBulwark(dir);
        Process peer = null;
        List<Result> results = new ArrayList<>();
        try {
            JsonNode ports = awaitPorts(dir, bulwark);
            List<Path[]> creds = provision(dir, ports.get("https").asInt());
            if (only == null || only.equals("bulwark")) {
                results.add(run("bulwark", ports.get("mqtt").asInt(), dir, creds));
            }
            if (!"none".equals(mosquitto) && (only == null || only.equals("mosquitto"))) {
                bulwark.destroy();
                bulwark.waitFor(30, TimeUnit.SECONDS);
                int port = freePort();
                peer = startMosquitto(dir, port);
                results.add(run("mosquitto", port, dir, creds));
            }
        } finally {
            bulwark.destroy();
            bulwark.waitFor(30, TimeUnit.SECONDS);
            if (peer != null) {
                peer.destroy();
                peer.waitFor(10, TimeUnit.SECONDS);
            }
        }
        System.out.println();
        System.out.printf("| target | devices | TLS connects/s | connect p99 ms | QoS 1 acks/s | PUBACK p50 ms | PUBACK p99 ms | errors |%n");
        System.out.printf("|---|---|---|---|---|---|---|---|%n");
        for (Result r : results) {
            System.out.printf("| %s | %d | %.0f | %.1f | %.0f | %.2f | %.2f | %d |%n", r.target(), r.devices(), r.connectsPerSecond(),
                    r.connectP99Ms(), r.acksPerSecond(), r.p50Ms(), r.p99Ms(), r.errors());
        }
        if (results.size() == 2) {
            System.out.printf("%nBulwark / Mosquitto: connects %.2fx, QoS 1 throughput %.2fx%n",
                    results.get(0).connectsPerSecond() / results.get(1).connectsPerSecond(),
                    results.get(0).acksPerSecond() / results.get(1).acksPerSecond());
        }
        return 0;
    }

    private Process startBulwark(Path dir) throws Exception {
        return plaintextPayloads
                ? BenchNode.start(dir, db, "--device-rate", "1000000", "--tenant-rate", "1000000000", "--plaintext-payloads")
                : BenchNode.start(dir, db, "--device-rate", "1000000", "--tenant-rate", "1000000000");
    }

    private static JsonNode awaitPorts(Path dir, Process p) throws Exception {
        return BenchNode.awaitPorts(dir, p);
    }

    private List<Path[]> provision(Path dir, int httpsPort) throws Exception {
        return BenchNode.provision(dir, httpsPort, devices);
    }

    private Process startMosquitto(Path dir, int port) throws Exception {
        Path pki = dir.resolve("bulwark/pki");
        Files.writeString(dir.resolve("mosquitto.acl"), "pattern readwrite devices/%u/#\n");
        Files.writeString(dir.resolve("mosquitto.conf"), String.join("\n",
                "user root",
                "per_listener_settings false",
                "allow_anonymous false",
                "persistence false",
                "log_type error",
                "listener " + port + " 127.0.0.1",
                "cafile " + pki.resolve("ca.pem"),
                "certfile " + pki.resolve("server.pem"),
                "keyfile " + pki.resolve("server.key"),
                "require_certificate true",
                "use_identity_as_username true",
                "acl_file " + dir.resolve("mosquitto.acl"), ""));
        Process p = new ProcessBuilder(mosquitto, "-c", dir.resolve("mosquitto.conf").toString())
                .redirectErrorStream(true).redirectOutput(dir.resolve("mosquitto.log").toFile()).start();
        for (int i = 0; i < 100; i++) {
            try (java.net.Socket s = new java.net.Socket("127.0.0.1", port)) {
                return p;
            } catch (java.io.IOException e) {
                if (!p.isAlive()) {
                    throw new IllegalStateException("mosquitto exited: " + Files.readString(dir.resolve("mosquitto.log")));
                }
                Thread.sleep(100);
            }
        }
        throw new IllegalStateException("mosquitto did not start");
    }

    private Result run(String target, int port, Path dir, List<Path[]> creds) throws Exception {
        Vertx vertx = Vertx.vertx();
        String ca = dir.resolve("bulwark/pki/ca.pem").toString();
        MqttClient[] clients = new MqttClient[devices];
        long[] connectNanos = new long[devices];
        AtomicLong errors = new AtomicLong();
        for (int i = 0; i < devices; i++) {
            String id = String.format("bench-%05d", i);
            MqttClientOptions o = new MqttClientOptions().setClientId(id).setCleanSession(true).setMaxInflightQueue(window * 2)
                    .setKeepAliveInterval(60).setAutoKeepAlive(true);
            o.setSsl(true).setHostnameVerificationAlgorithm("HTTPS")
                    .setTrustOptions(new PemTrustOptions().addCertPath(ca))
                    .setKeyCertOptions(new PemKeyCertOptions().addCertPath(creds.get(i)[0].toString()).addKeyPath(creds.get(i)[1].toString()));
            clients[i] = MqttClient.create(vertx, o);
        }
        // First round, not measured: each client builds its TLS context (a cost of the load generator, not of the server).
        connectAll(clients, port, new long[devices], errors);
        for (MqttClient c : clients) {
            if (c.isConnected()) {
                c.disconnect().toCompletionStage().toCompletableFuture().get(30, TimeUnit.SECONDS);
            }
        }
        errors.set(0);
        // Measured round: full mutual-TLS handshake, CONNECT, authentication, CONNACK.
        long c0 = System.nanoTime();
        connectAll(clients, port, connectNanos, errors);
        double connectSeconds = (System.nanoTime() - c0) / 1e9;
        long[] sortedConnect = connectNanos.clone();
        Arrays.sort(sortedConnect);

        AtomicLongArray latencies = new AtomicLongArray(8_000_000);
        AtomicInteger latencyCount = new AtomicInteger();
        AtomicLong acked = new AtomicLong();
        AtomicLong measuring = new AtomicLong(0);
        byte[] body = new byte[payload];
        Arrays.fill(body, (byte) 'x');
        Buffer buf = Buffer.buffer(body);
        java.util.concurrent.atomic.AtomicBoolean running = new java.util.concurrent.atomic.AtomicBoolean(true);
        for (int i = 0; i < devices; i++) {
            MqttClient c = clients[i];
            if (!c.isConnected()) {
                continue;
            }
            String topic = String.format("devices/bench-%05d/telemetry", i);
            Map<Integer, Long> sent = new HashMap<>();
            Runnable[] next = new Runnable[1];
            next[0] = () -> {
                if (!running.get() || !c.isConnected()) {
                    return;
                }
                long t = System.nanoTime();
                c.publish(topic, buf, MqttQoS.AT_LEAST_ONCE, false, false).onComplete(ar -> {
                    if (ar.succeeded()) {
                        sent.put(ar.result(), t);
                    } else {
                        errors.incrementAndGet();
                    }
                });
            };
            c.publishCompletionHandler(id -> {
                Long t = sent.remove(id);
                if (t != null && measuring.get() == 1) {
                    acked.incrementAndGet();
                    int k = latencyCount.getAndIncrement();
                    if (k < latencies.length()) {
                        latencies.set(k, System.nanoTime() - t);
                    }
                }
                next[0].run();
            });
            c.exceptionHandler(e -> errors.incrementAndGet());
            vertx.runOnContext(v -> {
                for (int w = 0; w < window; w++) {
                    next[0].run();
                }
            });
        }
        Thread.sleep(warmupSeconds * 1000L);   // warm-up, not measured
        measuring.set(1);
        long m0 = System.nanoTime();
        Thread.sleep(seconds * 1000L);
        measuring.set(2);
        double measured = (System.nanoTime() - m0) / 1e9;
        running.set(false);
        Thread.sleep(1000);
        int n = Math.min(latencyCount.get(), latencies.length());
        long[] l = new long[n];
        for (int i = 0; i < n; i++) {
            l[i] = latencies.get(i);
        }
        Arrays.sort(l);
        for (MqttClient c : clients) {
            if (c.isConnected()) {
                c.disconnect();
            }
        }
        vertx.close().toCompletionStage().toCompletableFuture().get(30, TimeUnit.SECONDS);
        Result r = new Result(target, devices, devices / connectSeconds, sortedConnect[(int) (devices * 0.99)] / 1e6,
                acked.get() / measured, n == 0 ? 0 : l[n / 2] / 1e6, n == 0 ? 0 : l[(int) (n * 0.99)] / 1e6, acked.get(), errors.get());
        System.out.printf("%s: %d connects in %.1f s; %d PUBACKs in %.1f s%n", target, devices, connectSeconds, acked.get(), measured);
        return r;
    }

    private void connectAll(MqttClient[] clients, int port, long[] connectNanos, AtomicLong errors) throws InterruptedException {
        Semaphore inFlight = new Semaphore(connectConcurrency);
        CountDownLatch connected = new CountDownLatch(clients.length);
        for (int i = 0; i < clients.length; i++) {
            inFlight.acquire();
            int n = i;
            long t = System.nanoTime();
            clients[i].connect(port, "localhost").onComplete(ar -> {
                connectNanos[n] = System.nanoTime() - t;
                if (ar.failed()) {
                    errors.incrementAndGet();
                }
                inFlight.release();
                connected.countDown();
            });
        }
        connected.await(300, TimeUnit.SECONDS);
    }

    private static int freePort() throws java.io.IOException {
        try (java.net.ServerSocket s = new java.net.ServerSocket(0, 1, java.net.InetAddress.getLoopbackAddress())) {
            return s.getLocalPort();
        }
    }

}
