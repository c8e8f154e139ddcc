package dev.bulwark.server.testkit;

import com.fasterxml.jackson.databind.JsonNode;
import dev.bulwark.server.cli.ApiClient;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.concurrent.TimeUnit;

/**
 * Devices for MQTT tests, made the way a device maker would: key and CSR by {@code openssl}, the
 * certificate from the REST API, and the real {@code mosquitto_pub}/{@code mosquitto_sub} clients.
 */
public final class MqttKit {
    private final TestServer server;
    private final String token;
    private final Openssl openssl = Openssl.inTempDir();

    public MqttKit(TestServer server, String operatorToken) {
        this.server = server;
        this.token = operatorToken;
    }

    public Openssl openssl() {
        return openssl;
    }

    /** A registered device with a P-256 key made by openssl and a certificate issued from its CSR. */
    public record Device(String id, Path cert, Path key, String serial) {
    }

    public Device device(String id) {
        server.createDevice(token, id, "thermo");
        return certify(id);
    }

    public Device certify(String id) {
        return certify(id, Map.of());
    }

    /** A certificate valid for {@code days} days. */
    public Device certify(String id, int days) {
        return certify(id, Map.of("validityDays", days));
    }

    private Device certify(String id, Map<String, Object> extra) {
        String csr = openssl.p256Csr(id, "/CN=" + id);
        Map<String, Object> body = new java.util.HashMap<>(extra);
        body.put("csr", csr);
        ApiClient.Result r = server.api().post("/api/v1/devices/" + id + "/certificates", token, body);
        if (r.status() != 201) {
            throw new IllegalStateException(r.body());
        }
        JsonNode j = r.json();
        try {
            java.nio.file.Files.writeString(openssl.file(id + ".pem"), j.get("certificate").asText());
        } catch (IOException e) {
            throw new IllegalStateException(e);
        }
        return new Device(id, openssl.file(id + ".pem"), openssl.file(id + ".key"), j.get("serial").asText());
    }

    /** A device token (shown once) for token-over-TLS. */
    public String deviceToken(String id) {
        return server.api().post("/api/v1/devices/" + id + "/tokens", token, null).json().get("token").asText();
    }

    public Path ca() {
        return server.dataDir().resolve("pki/ca.pem");
    }

    /** Output and exit code of a mosquitto client run. */
    public record Run(int exit, String output) {
    }

    /** Runs mosquitto_pub against the node's MQTT TLS port with the device's certificate; extra args follow. */
    public Run pub(Device d, String... args) {
        List<String> cmd = new ArrayList<>(List.of("mosquitto_pub", "-h", "localhost", "-p", String.valueOf(server.node().mqttPort()),
                "--cafile", ca().toString(), "-d"));
        if (d != null) {
            cmd.addAll(List.of("--cert", d.cert().toString(), "--key", d.key().toString()));
        }
        cmd.addAll(List.of(args));
        return run(cmd, 30);
    }

    /** Runs mosquitto_sub for a bounded time ({@code -W seconds} must be among the args or it is killed). */
    public Run sub(Device d, String... args) {
        List<String> cmd = new ArrayList<>(List.of("mosquitto_sub", "-h", "localhost", "-p", String.valueOf(server.node().mqttPort()),
                "--cafile", ca().toString(), "-d"));
        if (d != null) {
            cmd.addAll(List.of("--cert", d.cert().toString(), "--key", d.key().toString()));
        }
        cmd.addAll(List.of(args));
        return run(cmd, 20);
    }

    public static Run run(List<String> cmd, int timeoutSeconds) {
        try {
            Process p = new ProcessBuilder(cmd).redirectErrorStream(true).start();
            p.getOutputStream().close();
            boolean done = p.waitFor(timeoutSeconds, TimeUnit.SECONDS);
            if (!done) {
                p.destroyForcibly();
                p.waitFor(5, TimeUnit.SECONDS);
            }
            String out = new String(p.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
            return new Run(done ? p.exitValue() : -1, out);
        } catch (IOException e) {
            throw new IllegalStateException("cannot run " + cmd.get(0) + " (install mosquitto-clients)", e);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new IllegalStateException(e);
        }
    }

    /** Messages stored for a device, through the REST API. */
    public JsonNode telemetry(String device, String kind) {
        return server.api().get("/api/v1/devices/" + device + "/telemetry?limit=1000&kind=" + kind, token).json().get("items");
    }
}
