package dev.bulwark.app;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import dev.bulwark.app.sim.FleetSimulator;
import dev.bulwark.server.config.DataDir;
import java.io.IOException;
import java.net.URI;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.concurrent.Callable;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;

/** {@code bulwark simulate}: a simulated fleet enrolled over EST and run against a node. */
@Command(name = "simulate", mixinStandardHelpOptions = true,
        description = {"Run a simulated device fleet against a Bulwark node: devices are registered over the REST API, make their own "
                + "keys, enroll over EST and send telemetry over MQTT with mutual TLS.",
                "Addresses and the platform CA are read from the node's data directory (run/ports.json, pki/ca.pem) unless given."})
public final class SimulateCommand implements Callable<Integer> {

    @Option(names = "--data", description = "The node's data directory (default: ${DEFAULT-VALUE})", defaultValue = "bulwark-data")
    Path data;

    @Option(names = "--host", description = "Host name of the node, as in its certificate (default: ${DEFAULT-VALUE})", defaultValue = "localhost")
    String host;

    @Option(names = "--token-file", description = "File holding a tenant-admin API token (the simulator registers the model's schema and commands) "
            + "(default: the demo operator's, <data>/demo/demo-admin.token; or the BULWARK_TOKEN environment variable)")
    Path tokenFile;

    @Option(names = "--devices", description = "Number of devices (default: ${DEFAULT-VALUE})", defaultValue = "10")
    int devices;

    @Option(names = "--rate", description = "Telemetry messages per second per device (default: ${DEFAULT-VALUE})", defaultValue = "1")
    double rate;

    @Option(names = "--prefix", description = "Device id prefix (default: ${DEFAULT-VALUE})", defaultValue = "sim")
    String prefix;

    @Option(names = "--model", description = "Device model (default: ${DEFAULT-VALUE})", defaultValue = "thermo")
    String model;

    @Option(names = "--state", description = "Where the simulated devices keep their credentials (default: <data>/simulator)")
    Path state;

    @Option(names = "--flaky", description = "Share of the fleet (0..1) that loses its network now and then (default: ${DEFAULT-VALUE})",
            defaultValue = "0")
    double flaky;

    @Option(names = "--expired", description = "Devices whose certificate has expired, retrying with it (default: ${DEFAULT-VALUE})",
            defaultValue = "0")
    int expired;

    @Option(names = "--revoked", description = "Devices whose certificate is revoked, retrying with it (default: ${DEFAULT-VALUE})",
            defaultValue = "0")
    int revoked;

    @Option(names = "--clones", description = "Identities that also run on a second, cloned device (default: ${DEFAULT-VALUE})",
            defaultValue = "0")
    int clones;

    @Option(names = "--seconds", description = "Stop after this many seconds; 0 runs until Ctrl-C (default: ${DEFAULT-VALUE})",
            defaultValue = "0")
    int seconds;

    @Override
    public Integer call() throws Exception {
        JsonNode ports = readPorts(data);
        String token = token();
        FleetSimulator.Settings settings = FleetSimulator.Settings.healthy(
                        URI.create("https://" + host + ":" + ports.path("https").asInt(8443)), token, data.resolve("pki/ca.pem"),
                        URI.create("https://" + host + ":" + ports.path("deviceHttps").asInt(8444)),
                        URI.create("ssl://" + host + ":" + ports.path("mqtt").asInt(8883)),
                        state != null ? state : data.resolve("simulator"), devices, rate)
                .withNames(prefix, model).withFaults(flaky, expired, revoked, clones);
        FleetSimulator sim = FleetSimulator.start(settings);
        System.out.println("Simulating " + sim.roles() + " against " + settings.api() + " (Ctrl-C to stop)");
        CountDownLatch stop = new CountDownLatch(1);
        Runtime.getRuntime().addShutdownHook(new Thread(() -> {
            sim.close();
            stop.countDown();
        }, "bulwark-simulator-stop"));
        long end = seconds > 0 ? System.nanoTime() + TimeUnit.SECONDS.toNanos(seconds) : Long.MAX_VALUE;
        while (!stop.await(10, TimeUnit.SECONDS)) {
            System.out.println("fleet: " + sim.summary());
            if (System.nanoTime() > end) {
                break;
            }
        }
        sim.close();
        System.out.println("fleet stopped: " + sim.summary());
        return 0;
    }

    private String token() throws IOException {
        Path f = tokenFile != null ? tokenFile : data.resolve("demo").resolve(DemoCommand.OPERATOR + ".token");
        if (Files.exists(f)) {
            return DataDir.read(f).trim();
        }
        String env = System.getenv("BULWARK_TOKEN");
        if (env != null && !env.isBlank()) {
            return env.trim();
        }
        throw new IllegalArgumentException("no operator token: give --token-file FILE or set BULWARK_TOKEN (never a token on the command line)");
    }

    static JsonNode readPorts(Path data) throws IOException {
        Path f = data.resolve("run/ports.json");
        return Files.exists(f) ? new ObjectMapper().readTree(f.toFile()) : new ObjectMapper().createObjectNode();
    }
}
