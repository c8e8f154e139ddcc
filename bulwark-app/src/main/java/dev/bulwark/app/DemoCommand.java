package dev.bulwark.app;

import com.fasterxml.jackson.databind.JsonNode;
import dev.bulwark.app.sim.FleetSimulator;
import dev.bulwark.device.DeviceKeys;
import dev.bulwark.protocol.DeviceId;
import dev.bulwark.server.BulwarkServer;
import dev.bulwark.server.cli.ApiClient;
import dev.bulwark.server.config.DataDir;
import dev.bulwark.server.config.ServerConfig;
import java.net.URI;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Map;
import java.util.concurrent.Callable;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;

/**
 * {@code bulwark demo}: start the backend on embedded defaults (bound to loopback), create a demo tenant,
 * a tenant admin and an example device with a certificate issued from a CSR generated on the "device",
 * start a simulated fleet (enrolled over EST, sending telemetry), and print how to call the API. Every step goes through the public REST API; a second run reuses what
 * the first created.
 */
@Command(name = "demo", mixinStandardHelpOptions = true,
        description = "Run the backend with an example tenant and device, and show how to use the API.")
public final class DemoCommand implements Callable<Integer> {
    public static final String TENANT = "demo";
    public static final String OPERATOR = "demo-admin";
    public static final String DEVICE = "demo-thermo-0001";
    public static final String FLEET_PREFIX = "fleet";

    @Option(names = "--data", description = "Data directory (default: ${DEFAULT-VALUE})", defaultValue = "bulwark-data")
    Path data;

    @Option(names = "--https-port", description = "REST API port; 0 picks a free port (default: ${DEFAULT-VALUE})", defaultValue = "8443")
    int httpsPort;

    @Option(names = "--mqtt-port", description = "MQTT over TLS port; 0 picks a free port (default: ${DEFAULT-VALUE})", defaultValue = "8883")
    int mqttPort;

    @Option(names = "--device-https-port", description = "Device HTTPS port; 0 picks a free port (default: ${DEFAULT-VALUE})", defaultValue = "8444")
    int deviceHttpsPort;

    @Option(names = "--devices", description = "Simulated devices in the demo fleet (default: ${DEFAULT-VALUE})", defaultValue = "50")
    int devices;

    @Option(names = "--rate", description = "Telemetry messages per second per simulated device (default: ${DEFAULT-VALUE})", defaultValue = "1")
    double rate;

    @Override
    public Integer call() throws InterruptedException {
        ServerConfig config = ServerConfig.builder().dataDir(data).httpsPort(httpsPort).mqttPort(mqttPort).deviceHttpsPort(deviceHttpsPort).bindAddress("127.0.0.1").build();
        BulwarkServer server = BulwarkServer.start(config);
        FleetSimulator fleet;
        try {
            Summary summary = setUp(server);
            fleet = startFleet(server, summary, devices, rate);
            print(server, summary);
        } catch (RuntimeException e) {
            server.close();
            throw e;
        }
        CountDownLatch stopped = new CountDownLatch(1);
        Runtime.getRuntime().addShutdownHook(new Thread(() -> {
            System.out.println("Stopping the demo fleet and Bulwark...");
            fleet.close();
            server.close();
            stopped.countDown();
        }, "bulwark-demo-stop"));
        while (!stopped.await(15, TimeUnit.SECONDS)) {
            System.out.println("fleet: " + fleet.summary());
        }
        return 0;
    }

    /** The demo fleet: {@code devices} simulated devices that enroll over EST and send telemetry. */
    public static FleetSimulator startFleet(BulwarkServer server, Summary summary, int devices, double rate) {
        Path root = server.dataDir();
        FleetSimulator.Settings settings = FleetSimulator.Settings.healthy(
                URI.create("https://localhost:" + server.httpsPort()), DataDir.read(summary.operatorTokenFile()).trim(),
                root.resolve("pki/ca.pem"), URI.create("https://localhost:" + server.deviceHttpsPort()),
                URI.create("ssl://localhost:" + server.mqttPort()), new DataDir(root).dir("demo/fleet"), devices, rate)
                .withNames(FLEET_PREFIX, "thermo");
        return FleetSimulator.start(settings);
    }

    /** What the demo set up. */
    public record Summary(Path operatorTokenFile, Path deviceDir, String certificateSerial) {
    }

    /** Creates (or finds) the demo tenant, operator and device through the REST API. */
    public static Summary setUp(BulwarkServer server) {
        Path root = server.dataDir();
        ApiClient api = new ApiClient("localhost", server.httpsPort(), root.resolve("pki/ca.pem"));
        String admin = DataDir.read(root.resolve("bootstrap/admin.token")).trim();

        expect(api.post("/api/v1/tenants", admin, Map.of("id", TENANT, "name", "Demo Devices Inc.")), 201, 409);

        Path demoDir = new DataDir(root).dir("demo");
        Path tokenFile = demoDir.resolve(OPERATOR + ".token");
        String token;
        if (Files.exists(tokenFile)) {
            // a second run: the demo operator's own token (a platform admin can neither mint tokens for a tenant's
            // operators nor create operators in a tenant that has one)
            token = DataDir.read(tokenFile).trim();
            if (api.get("/api/v1/devices?limit=1", token).status() != 200) {
                throw new IllegalStateException("the demo operator's token in " + tokenFile + " no longer works (expired or revoked); "
                        + "run the demo with a fresh data directory (--data) to start over");
            }
        } else {
            ApiClient.Result op = api.post("/api/v1/tenants/" + TENANT + "/operators", admin,
                    Map.of("name", OPERATOR, "roles", List.of("tenant-admin", "security-analyst")));
            expect(op, 201);
            token = op.json().get("token").asText();
            DataDir.writeSecret(tokenFile, token + "\n");
        }

        expect(api.post("/api/v1/devices", token, Map.of("id", DEVICE, "model", "thermo")), 201, 409);
        Path deviceDir = new DataDir(root).dir("demo/devices/" + DEVICE);
        Path certFile = deviceDir.resolve("device.pem");
        String serial = null;
        JsonNode certs = expect(api.get("/api/v1/devices/" + DEVICE + "/certificates", token), 200).json().get("items");
        for (JsonNode c : certs) {
            if ("active".equals(c.get("status").asText()) && Files.exists(certFile)) {
                serial = c.get("serial").asText();
            }
        }
        if (serial == null) {
            // What a device does at the factory or at first boot: make its own key, send only the CSR.
            DeviceKeys keys = DeviceKeys.generate(DeviceId.of(DEVICE));
            DataDir.writeSecret(deviceDir.resolve("device.key"), keys.privateKeyPem());
            JsonNode issued = expect(api.post("/api/v1/devices/" + DEVICE + "/certificates", token, Map.of("csr", keys.csrPem())), 201).json();
            DataDir.writePublic(certFile, issued.get("certificate").asText());
            serial = issued.get("serial").asText();
        }
        return new Summary(tokenFile, deviceDir, serial);
    }

    private static ApiClient.Result expect(ApiClient.Result r, int... statuses) {
        for (int s : statuses) {
            if (r.status() == s) {
                return r;
            }
        }
        throw new IllegalStateException("demo set-up failed: HTTP " + r.status() + " " + r.body());
    }

    private static void print(BulwarkServer server, Summary s) {
        Path root = server.dataDir();
        String base = "https://localhost:" + server.httpsPort();
        String curl = "curl --cacert " + root.resolve("pki/ca.pem") + " -H \"Authorization: Bearer $(cat " + s.operatorTokenFile() + ")\"";
        System.out.println();
        System.out.println("Bulwark demo is running (Ctrl-C to stop).");
        System.out.println();
        System.out.println("  REST API        " + base + "/api/v1   (OpenAPI: " + base + "/api/openapi.json)");
        System.out.println("  tenant          " + TENANT + ", tenant-admin '" + OPERATOR + "', token in " + s.operatorTokenFile());
        System.out.println("  device          " + DEVICE + ", certificate serial " + s.certificateSerial());
        System.out.println("                  key and certificate (made from an on-device CSR) in " + s.deviceDir());
        System.out.println("  MQTT            mqtts://localhost:" + server.mqttPort() + " (mutual TLS)");
        System.out.println("  platform admin  token in " + root.resolve("bootstrap/admin.token"));
        System.out.println();
        System.out.println("Try:");
        System.out.println("  " + curl + " " + base + "/api/v1/devices");
        System.out.println("  " + curl + " " + base + "/api/v1/devices/" + DEVICE + "/certificates");
        System.out.println("  " + curl + " -H 'Content-Type: application/json' -d '{\"id\":\"thermo-0002\",\"model\":\"thermo\"}' " + base + "/api/v1/devices");
        System.out.println("  " + curl + " " + base + "/api/v1/audit");
        String dev = s.deviceDir().toString();
        System.out.println("  mosquitto_pub -h localhost -p " + server.mqttPort() + " --cafile " + root.resolve("pki/ca.pem") + " --cert " + dev
                + "/device.pem --key " + dev + "/device.key -i " + DEVICE + " -q 1 -t devices/" + DEVICE + "/telemetry -m '{\"celsius\":21.5}'");
        System.out.println("  " + curl + " " + base + "/api/v1/devices/" + DEVICE + "/telemetry");
        System.out.println("  openssl req -new -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout thermo-0002.key -subj /CN=thermo-0002 -out thermo-0002.csr");
        System.out.println("  jq -Rs '{csr: .}' thermo-0002.csr | " + curl + " -H 'Content-Type: application/json' -d @- " + base + "/api/v1/devices/thermo-0002/certificates");
        System.out.println();
        System.out.println("Audit chain check (with the server stopped): ./bulwark audit verify --data " + root);
        System.out.println("The simulated fleet (" + FLEET_PREFIX + "-0001 ...) enrolled over EST and sends telemetry over MQTT:");
        System.out.println("  " + curl + " '" + base + "/api/v1/devices?limit=100'");
        System.out.println("  " + curl + " '" + base + "/api/v1/devices/" + FLEET_PREFIX + "-0001/telemetry?limit=5'");
        System.out.println("  " + curl + " -H 'Content-Type: application/json' -X PUT -d '{\"interval\":5}' " + base + "/api/v1/devices/"
                + FLEET_PREFIX + "-0001/config");
        System.out.println("  " + curl + " -H 'Content-Type: application/json' -d '{\"name\":\"identify\"}' " + base + "/api/v1/devices/"
                + FLEET_PREFIX + "-0001/commands");
        System.out.println("  " + curl + " " + base + "/api/v1/security/events");
        System.out.println("  " + curl + " " + base + "/api/v1/security/alerts");
        System.out.println("Metrics (Prometheus text, platform-admin token): curl --cacert " + root.resolve("pki/ca.pem")
                + " -H \"Authorization: Bearer $(cat " + root.resolve("bootstrap/admin.token") + ")\" " + base + "/metrics");
        System.out.println("More devices, with faults: ./bulwark simulate --data " + root + " --devices 20 --flaky 0.2 --revoked 1 --expired 1 --clones 1");
    }
}
