package dev.bulwark.bench;

import com.fasterxml.jackson.databind.JsonNode;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.Callable;
import java.util.concurrent.TimeUnit;
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
        List<QosLoad.Device> fleet = new ArrayList<>();
        for (int i = 0; i < devices; i++) {
            fleet.add(new QosLoad.Device(String.format("bench-%05d", i), creds.get(i)[0], creds.get(i)[1], 0, port));
        }
        try (QosLoad load = new QosLoad(fleet, dir.resolve("bulwark/pki/ca.pem"), window, payload, 1, null)) {
            // First round, not measured: each client builds its TLS context (a cost of the load generator, not of the server).
            long warmFailed = load.connect(connectConcurrency, new long[devices]);
            load.disconnect();
            // Measured round: full mutual-TLS handshake, CONNECT, authentication, CONNACK.
            long[] connectNanos = new long[devices];
            long c0 = System.nanoTime();
            load.connect(connectConcurrency, connectNanos);
            double connectSeconds = (System.nanoTime() - c0) / 1e9;
            Samples connect = Samples.of(connectNanos);
            load.startPublishing();
            Thread.sleep(warmupSeconds * 1000L);   // warm-up, not measured
            load.beginMeasuring();
            Thread.sleep(seconds * 1000L);
            QosLoad.Result r = load.endMeasuring();
            load.stopPublishing();
            Thread.sleep(1000);
            System.out.printf("%s: %d connects in %.1f s; %d PUBACKs in %.1f s%n", target, devices, connectSeconds, r.acked(), r.seconds());
            return new Result(target, devices, devices / connectSeconds, connect.p99Ms(), r.acksPerSecond(),
                    r.latency().p50Ms(), r.latency().p99Ms(), r.acked(), r.errors() - warmFailed);
        }
    }

    private static int freePort() throws java.io.IOException {
        try (java.net.ServerSocket s = new java.net.ServerSocket(0, 1, java.net.InetAddress.getLoopbackAddress())) {
            return s.getLocalPort();
        }
    }

}
