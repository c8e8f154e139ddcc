package dev.bulwark.bench;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import dev.bulwark.device.DeviceKeys;
import dev.bulwark.protocol.DeviceId;
import dev.bulwark.server.cli.ApiClient;
import dev.bulwark.server.config.DataDir;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;

/** A Bulwark node in a child JVM for the benchmarks, and its fleet of certified devices. */
final class BenchNode {
    private BenchNode() {
    }

    /**
     * Starts a node on ephemeral loopback ports with its data in {@code dir/bulwark}, through the benchmark-only
     * entry {@link BenchServer} ({@code bulwark serve}'s options, plus {@code --plaintext-payloads}).
     */
    static Process start(Path dir, String db, String... extra) throws Exception {
        return start(dir, "bulwark.log", db, List.of(extra));
    }

    /**
     * Starts a node as {@link #start(Path, String, String...)} does, logging to {@code dir/<logName>}; several
     * nodes of a cluster share {@code dir/bulwark} ({@code --kafka} and {@code --node-id} among {@code extra}).
     * The node stops by itself when this JVM goes away.
     */
    static Process start(Path dir, String logName, String db, List<String> extra) throws Exception {
        String java = ProcessHandle.current().info().command().orElse("java");
        List<String> cmd = new ArrayList<>(List.of(java, "-Xmx2g", "-cp", System.getProperty("java.class.path"),
                BenchServer.class.getName(), "--data", dir.resolve("bulwark").toString(), "--bind", "127.0.0.1",
                "--https-port", "0", "--mqtt-port", "0", "--device-https-port", "0", "--exit-with-parent"));
        cmd.addAll(extra);
        if (db != null) {
            cmd.add("--db");
            cmd.add(db);
        }
        return new ProcessBuilder(cmd).redirectErrorStream(true).redirectOutput(dir.resolve(logName).toFile()).start();
    }

    static JsonNode awaitPorts(Path dir, Process p) throws Exception {
        return awaitPorts(dir, null, p, dir.resolve("bulwark.log"));
    }

    /**
     * The ports a node started by {@link #start} listens on, once it does: a standalone node ({@code nodeId}
     * null) names them in {@code <data>/run/ports.json}, a node of a cluster in
     * {@code <data>/nodes/<node-id>/run/ports.json}.
     */
    static JsonNode awaitPorts(Path dir, String nodeId, Process p, Path log) throws Exception {
        Path data = dir.resolve("bulwark");
        Path ports = (nodeId == null ? data : data.resolve("nodes").resolve(nodeId)).resolve("run/ports.json");
        for (int i = 0; i < 1200; i++) {
            if (!p.isAlive()) {
                throw new IllegalStateException("Bulwark exited: " + Files.readString(log));
            }
            if (Files.exists(ports)) {
                JsonNode j = new ObjectMapper().readTree(ports.toFile());
                if (j.path("pid").asLong() == p.pid()) {
                    return j;
                }
            }
            Thread.sleep(100);
        }
        throw new IllegalStateException("Bulwark did not start within 120 s; see " + log);
    }

    /** Blocks until standard input (the pipe from the JVM that started this one) closes, then exits. */
    static void exitWhenParentGoes() {
        try {
            while (System.in.read() >= 0) {
                // the parent writes nothing: only the end of the stream matters
            }
        } catch (java.io.IOException e) {
            // a broken pipe: the parent is gone as well
        }
        System.exit(0);
    }

    /** Registers {@code devices} devices and certifies each one's own key pair; returns {cert, key} paths. */
    static List<Path[]> provision(Path dir, int httpsPort, int devices) throws Exception {
        return provisionFleet(dir, httpsPort, devices).credentials();
    }

    /**
     * The tenant {@code bench}, an operator of it (fleet operator and security analyst) and its devices
     * {@code bench-00000}, {@code bench-00001}, ...
     *
     * @param operatorToken the operator's API token
     * @param credentials   {cert, key} paths of each device, in the order of their ids
     */
    record Fleet(String operatorToken, List<Path[]> credentials) {
    }

    /** As {@link #provision}, and the operator's token too. */
    static Fleet provisionFleet(Path dir, int httpsPort, int devices) throws Exception {
        Path data = dir.resolve("bulwark");
        ApiClient api = new ApiClient("localhost", httpsPort, data.resolve("pki/ca.pem"));
        String admin = DataDir.read(data.resolve("bootstrap/admin.token")).trim();
        api.post("/api/v1/tenants", admin, Map.of("id", "bench", "name", "Bench"));
        String token = api.post("/api/v1/tenants/bench/operators", admin,
                        Map.of("name", "bench", "roles", List.of("fleet-operator", "security-analyst")))
                .json().get("token").asText();
        Path devDir = dir.resolve("devices");
        Files.createDirectories(devDir);
        ExecutorService pool = Executors.newFixedThreadPool(8);
        List<Future<Path[]>> fs = new ArrayList<>();
        long t0 = System.nanoTime();
        for (int i = 0; i < devices; i++) {
            String id = String.format("bench-%05d", i);
            fs.add(pool.submit(() -> {
                api.post("/api/v1/devices", token, Map.of("id", id, "model", "bench"));
                DeviceKeys keys = DeviceKeys.generate(DeviceId.of(id));
                String cert = api.post("/api/v1/devices/" + id + "/certificates", token, Map.of("csr", keys.csrPem()))
                        .json().get("certificate").asText();
                Path c = devDir.resolve(id + ".pem");
                Path k = devDir.resolve(id + ".key");
                Files.writeString(c, cert);
                DataDir.writeSecret(k, keys.privateKeyPem());
                return new Path[] {c, k};
            }));
        }
        List<Path[]> out = new ArrayList<>();
        for (Future<Path[]> f : fs) {
            out.add(f.get());
        }
        pool.shutdown();
        System.out.printf("provisioned %d devices (key on the device, CSR, certificate) in %.1f s%n", devices, (System.nanoTime() - t0) / 1e9);
        return new Fleet(token, out);
    }
}
