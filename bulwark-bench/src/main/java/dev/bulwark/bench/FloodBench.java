package dev.bulwark.bench;

import com.fasterxml.jackson.databind.JsonNode;
import io.vertx.core.Vertx;
import io.vertx.core.net.PemKeyCertOptions;
import io.vertx.core.net.PemTrustOptions;
import io.vertx.mqtt.MqttClient;
import io.vertx.mqtt.MqttClientOptions;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.concurrent.Callable;
import java.util.concurrent.ConcurrentLinkedQueue;
import java.util.concurrent.Semaphore;
import java.util.concurrent.ThreadLocalRandom;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.concurrent.atomic.AtomicLong;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;

/**
 * Legitimate devices connecting during a brute-force flood. Phase one: {@code --devices} devices connect,
 * disconnect and connect again over mutual TLS for {@code --seconds}. Phase two: the same, while an attacker
 * on another loopback address ({@code --attacker-address}) opens TLS connections as fast as it can (up to
 * {@code --attack-rate} per second) and sends CONNECT with the victim device's identity and random tokens.
 * Reported: the devices' connect success rate and connect time (p50, p99) in both phases, and what the
 * attacker achieved.
 */
@Command(name = "flood", mixinStandardHelpOptions = true,
        description = "Legitimate devices' connects with and without a brute-force flood against one of them.")
public final class FloodBench implements Callable<Integer> {
    @Option(names = "--devices", defaultValue = "50", description = "Legitimate devices reconnecting in a loop (default: ${DEFAULT-VALUE})")
    int devices;

    @Option(names = "--pause-ms", defaultValue = "1000", description = "Pause of each device between its connects (default: ${DEFAULT-VALUE})")
    int pauseMs;

    @Option(names = "--seconds", defaultValue = "20", description = "Length of each phase (default: ${DEFAULT-VALUE})")
    int seconds;

    @Option(names = "--attack-rate", defaultValue = "5000", description = "Attacker connects per second aimed at (default: ${DEFAULT-VALUE})")
    int attackRate;

    @Option(names = "--attack-concurrency", defaultValue = "200", description = "Attacker connects in progress at once (default: ${DEFAULT-VALUE})")
    int attackConcurrency;

    @Option(names = "--attacker-address", defaultValue = "127.0.0.2", description = "Local address the attacker connects from (default: ${DEFAULT-VALUE})")
    String attackerAddress;

    @Option(names = "--db", description = "JDBC URL for Bulwark (default: embedded H2)")
    String db;

    record Phase(String name, long connects, long failures, double p50Ms, double p99Ms, long attempts, long attackRefused, double attackPerSecond) {
        double successRate() {
            return connects + failures == 0 ? 0 : 100.0 * connects / (connects + failures);
        }
    }

    @Override
    public Integer call() throws Exception {
        ((ch.qos.logback.classic.Logger) org.slf4j.LoggerFactory.getLogger("io.vertx.mqtt")).setLevel(ch.qos.logback.classic.Level.OFF);
        Path dir = Files.createTempDirectory("bulwark-bench-flood");
        Process bulwark = BenchNode.start(dir, db);
        List<Phase> phases = new ArrayList<>();
        try {
            JsonNode ports = BenchNode.awaitPorts(dir, bulwark);
            List<Path[]> creds = BenchNode.provision(dir, ports.get("https").asInt(), devices);
            int port = ports.get("mqtt").asInt();
            String ca = dir.resolve("bulwark/pki/ca.pem").toString();
            phases.add(run("no flood", port, ca, creds, false));
            phases.add(run("brute-force flood", port, ca, creds, true));
        } finally {
            bulwark.destroy();
            bulwark.waitFor(30, TimeUnit.SECONDS);
        }
        System.out.println();
        System.out.println("| phase | device connects | failed | success % | connect p50 ms | connect p99 ms | attacker connects/s | attacker refused |");
        System.out.println("|---|---|---|---|---|---|---|---|");
        for (Phase p : phases) {
            System.out.printf("| %s | %d | %d | %.2f | %.1f | %.1f | %.0f | %d |%n", p.name(), p.connects(), p.failures(), p.successRate(),
                    p.p50Ms(), p.p99Ms(), p.attackPerSecond(), p.attackRefused());
        }
        return 0;
    }

    private Phase run(String name, int port, String ca, List<Path[]> creds, boolean flood) throws Exception {
        Vertx vertx = Vertx.vertx();
        AtomicBoolean running = new AtomicBoolean(true);
        ConcurrentLinkedQueue<Long> times = new ConcurrentLinkedQueue<>();
        AtomicLong failures = new AtomicLong();
        AtomicLong attempts = new AtomicLong();
        AtomicLong refused = new AtomicLong();
        for (int i = 0; i < devices; i++) {
            String id = String.format("bench-%05d", i);
            MqttClientOptions o = new MqttClientOptions().setClientId(id).setCleanSession(true).setKeepAliveInterval(60);
            o.setSsl(true).setHostnameVerificationAlgorithm("HTTPS").setTrustOptions(new PemTrustOptions().addCertPath(ca))
                    .setKeyCertOptions(new PemKeyCertOptions().addCertPath(creds.get(i)[0].toString()).addKeyPath(creds.get(i)[1].toString()));
            o.setConnectTimeout(30_000);
            MqttClient c = MqttClient.create(vertx, o);
            loop(vertx, c, port, running, times, failures, pauseMs, true);
        }
        Thread attacker = null;
        long a0 = System.nanoTime();
        if (flood) {
            attacker = new Thread(() -> attack(vertx, port, ca, running, attempts, refused), "bench-attacker");
            attacker.start();
        }
        Thread.sleep(seconds * 1000L);
        running.set(false);
        double attackSeconds = (System.nanoTime() - a0) / 1e9;
        if (attacker != null) {
            attacker.join(30_000);
        }
        Thread.sleep(2000);
        vertx.close().toCompletionStage().toCompletableFuture().get(30, TimeUnit.SECONDS);
        long[] t = times.stream().mapToLong(Long::longValue).toArray();
        Arrays.sort(t);
        Phase p = new Phase(name, t.length, failures.get(), t.length == 0 ? 0 : t[t.length / 2] / 1e6,
                t.length == 0 ? 0 : t[(int) (t.length * 0.99)] / 1e6, attempts.get(), refused.get(),
                flood ? attempts.get() / attackSeconds : 0);
        System.out.printf("%s: %d device connects (%d failed); attacker %d attempts%n", name, t.length, failures.get(), attempts.get());
        return p;
    }

    /** Connect, disconnect, pause, connect again, until the phase ends. */
    private static void loop(Vertx vertx, MqttClient c, int port, AtomicBoolean running, ConcurrentLinkedQueue<Long> times, AtomicLong failures,
                             int pauseMs, boolean first) {
        if (!running.get()) {
            return;
        }
        long t = System.nanoTime();
        c.connect(port, "localhost").onComplete(ar -> {
            if (ar.succeeded() && ar.result().code().byteValue() == 0) {
                if (!first) { // a client's first connect builds its TLS context: a cost of the load generator, not measured
                    times.add(System.nanoTime() - t);
                }
                c.disconnect().onComplete(x -> vertx.setTimer(pauseMs, y -> loop(vertx, c, port, running, times, failures, pauseMs, false)));
            } else {
                if (running.get()) {
                    failures.incrementAndGet();
                }
                vertx.setTimer(pauseMs, x -> loop(vertx, c, port, running, times, failures, pauseMs, first));
            }
        });
    }

    /**
     * New TLS connections with CONNECT for the victim's identity and a random token, paced to the attack rate:
     * {@code --attack-concurrency} clients (each with its own token) reconnect as soon as they are refused.
     */
    private void attack(Vertx vertx, int port, String ca, AtomicBoolean running, AtomicLong attempts, AtomicLong refused) {
        Semaphore permits = new Semaphore(0);
        List<MqttClient> clients = new ArrayList<>();
        for (int i = 0; i < attackConcurrency; i++) {
            MqttClientOptions o = new MqttClientOptions().setClientId("bench-00000").setUsername("bench-00000@bench")
                    .setPassword("bwd." + hex(16) + "." + "A".repeat(43)).setCleanSession(true);
            o.setSsl(true).setTrustOptions(new PemTrustOptions().addCertPath(ca)).setHostnameVerificationAlgorithm("HTTPS");
            o.setLocalAddress(attackerAddress).setConnectTimeout(10_000);
            clients.add(MqttClient.create(vertx, o));
        }
        for (MqttClient c : clients) {
            vertx.runOnContext(v -> attackLoop(vertx, c, port, running, permits, attempts, refused));
        }
        long interval = Math.max(1, 1_000_000_000L / Math.max(1, attackRate));
        long next = System.nanoTime();
        while (running.get()) {
            long wait = next - System.nanoTime();
            if (wait > 0) {
                java.util.concurrent.locks.LockSupport.parkNanos(wait);
            }
            next += interval;
            permits.release();
            if (permits.availablePermits() > attackRate) {
                permits.drainPermits(); // the attacker cannot keep up: do not bank the difference
            }
        }
        permits.release(attackConcurrency * 2);
    }

    private static void attackLoop(Vertx vertx, MqttClient c, int port, AtomicBoolean running, Semaphore permits, AtomicLong attempts,
                                   AtomicLong refused) {
        if (!running.get()) {
            return;
        }
        if (!permits.tryAcquire()) {
            vertx.setTimer(1, t -> attackLoop(vertx, c, port, running, permits, attempts, refused));
            return;
        }
        attempts.incrementAndGet();
        c.connect(port, "localhost").onComplete(ar -> {
            if (ar.failed() || ar.result().code().byteValue() != 0) {
                refused.incrementAndGet();
                attackLoop(vertx, c, port, running, permits, attempts, refused);
            } else {
                c.disconnect().onComplete(x -> attackLoop(vertx, c, port, running, permits, attempts, refused));
            }
        });
    }

    private static String hex(int n) {
        StringBuilder sb = new StringBuilder();
        for (int i = 0; i < n; i++) {
            sb.append(Character.forDigit(ThreadLocalRandom.current().nextInt(16), 16));
        }
        return sb.toString();
    }
}
