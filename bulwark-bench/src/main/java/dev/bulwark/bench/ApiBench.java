package dev.bulwark.bench;

import dev.bulwark.server.BulwarkServer;
import dev.bulwark.server.cli.ApiClient;
import dev.bulwark.server.config.DataDir;
import dev.bulwark.server.config.ServerConfig;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Map;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.concurrent.atomic.AtomicInteger;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;

/**
 * {@code bulwark bench api}: registers devices through the REST API (each call authenticated, role-checked,
 * committed together with its hash-chained audit entry) on a fresh embedded node, and reports throughput
 * and latency percentiles.
 */
@Command(name = "api", mixinStandardHelpOptions = true,
        description = "Device registration throughput and latency through the REST API (audited writes).")
public final class ApiBench implements java.util.concurrent.Callable<Integer> {
    @Option(names = "--devices", defaultValue = "2000", description = "Devices to register (default: ${DEFAULT-VALUE})")
    int devices;

    @Option(names = "--clients", defaultValue = "8", description = "Concurrent clients (default: ${DEFAULT-VALUE})")
    int clients;

    @Option(names = "--db", description = "JDBC URL (default: embedded H2)")
    String db;

    @Override
    public Integer call() throws Exception {
        Path dir = Files.createTempDirectory("bulwark-bench");
        try (BulwarkServer server = BulwarkServer.start(ServerConfig.builder().dataDir(dir).databaseUrl(db)
                .httpsPort(0).mqttPort(0).deviceHttpsPort(0).bindAddress("127.0.0.1").build())) {
            ApiClient api = new ApiClient("localhost", server.httpsPort(), dir.resolve("pki/ca.pem"));
            String admin = DataDir.read(dir.resolve("bootstrap/admin.token")).trim();
            api.post("/api/v1/tenants", admin, Map.of("id", "bench", "name", "Bench"));
            String token = api.post("/api/v1/tenants/bench/operators", admin,
                    Map.of("name", "bench", "roles", List.of("fleet-operator"))).json().get("token").asText();
            for (int i = 0; i < 50; i++) {
                api.post("/api/v1/devices", token, Map.of("id", "warm-" + i, "model", "m"));
            }
            long[] latencies = new long[devices];
            AtomicInteger next = new AtomicInteger();
            AtomicInteger failures = new AtomicInteger();
            ExecutorService pool = Executors.newFixedThreadPool(clients);
            long start = System.nanoTime();
            List<Future<?>> fs = new ArrayList<>();
            for (int c = 0; c < clients; c++) {
                fs.add(pool.submit(() -> {
                    int i;
                    while ((i = next.getAndIncrement()) < devices) {
                        long t0 = System.nanoTime();
                        int status = api.post("/api/v1/devices", token, Map.of("id", "dev-" + i, "model", "m")).status();
                        latencies[i] = System.nanoTime() - t0;
                        if (status != 201) {
                            failures.incrementAndGet();
                        }
                    }
                }));
            }
            for (Future<?> f : fs) {
                f.get();
            }
            double seconds = (System.nanoTime() - start) / 1e9;
            pool.shutdown();
            Arrays.sort(latencies);
            System.out.printf("api device registration: %d devices, %d clients, %.1f req/s, p50 %.2f ms, p99 %.2f ms, failures %d%n",
                    devices, clients, devices / seconds, latencies[devices / 2] / 1e6, latencies[(int) (devices * 0.99)] / 1e6,
                    failures.get());
            return failures.get() == 0 ? 0 : 1;
        }
    }
}
