package dev.bulwark.device.example;

import com.fasterxml.jackson.databind.node.JsonNodeFactory;
import dev.bulwark.device.BulwarkDevice;
import dev.bulwark.device.OutboundBuffer;
import dev.bulwark.protocol.DeviceId;
import java.net.URI;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.time.Duration;

/** The complete example of the SDK guide (bulwark-device/README.md); compiled with the tests so it stays true. */
public final class Thermostat {
    private static volatile double intervalSeconds = 10;

    public static void main(String[] args) throws Exception {
        BulwarkDevice device = BulwarkDevice.builder(DeviceId.of("thermo-0001"))
                .stateDir(Path.of("/var/lib/thermo/bulwark"))              // credentials.pem lives here, mode 0600
                .trustAnchor(Path.of("/etc/thermo/bulwark-ca.pem"))        // the platform CA, installed at the factory
                .est(URI.create("https://bulwark.example.com:8444"))
                .mqtt(URI.create("ssl://bulwark.example.com:8883"))
                .enrollmentToken(System.getenv("BULWARK_ENROLLMENT_TOKEN")) // used once, on first boot
                .buffer(50_000, OutboundBuffer.DropPolicy.DROP_OLDEST)      // about 14 h of readings at one per second
                .onConfig((version, desired) -> {
                    if (desired.path("interval").isNumber()) {
                        intervalSeconds = desired.get("interval").asDouble();
                    }
                    return desired;                                         // reported back: applied as asked
                })
                .onCommand(cmd -> switch (cmd.name()) {
                    case "identify" -> BulwarkDevice.CommandResult.ok(JsonNodeFactory.instance.objectNode().put("blinked", true));
                    default -> BulwarkDevice.CommandResult.failed("unsupported command " + cmd.name());
                })
                .build()
                .start();

        device.awaitConnected(Duration.ofMinutes(5));
        while (true) {
            String reading = "{\"celsius\":" + readSensor() + "}";
            if (!device.publishTelemetry(reading.getBytes(StandardCharsets.UTF_8))) {
                System.err.println("buffer full: reading dropped (" + device.stats().dropped() + " so far)");
            }
            Thread.sleep((long) (intervalSeconds * 1000));
        }
    }

    private static double readSensor() {
        return 21.5;
    }
}
