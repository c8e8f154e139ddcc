package dev.bulwark.server.cli;

import dev.bulwark.server.config.ServerConfig;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import picocli.CommandLine.Option;

/** Options shared by {@code serve} and {@code demo}. */
public final class ServerOptions {
    @Option(names = "--data", description = "Data directory (default: ${DEFAULT-VALUE})", defaultValue = "bulwark-data")
    Path data;

    @Option(names = "--db", description = "JDBC URL of an external database, e.g. jdbc:postgresql://host/db?user=bulwark "
            + "(default: the embedded H2 database in the data directory)")
    String db;

    @Option(names = "--https-port", description = "REST API port; 0 picks a free port (default: ${DEFAULT-VALUE})", defaultValue = "8443")
    int httpsPort;

    @Option(names = "--mqtt-port", description = "MQTT over TLS port; 0 picks a free port (default: ${DEFAULT-VALUE})", defaultValue = "8883")
    int mqttPort;

    @Option(names = "--device-https-port", description = "Device HTTPS port (telemetry over HTTP); 0 picks a free port (default: ${DEFAULT-VALUE})", defaultValue = "8444")
    int deviceHttpsPort;

    @Option(names = "--bind", description = "Address to listen on (default: ${DEFAULT-VALUE})", defaultValue = "0.0.0.0")
    String bind;

    @Option(names = "--host-name", description = "Extra DNS name for the server certificate (repeatable)")
    List<String> hostNames = new ArrayList<>();

    @Option(names = "--max-payload", description = "Largest device message payload in bytes (default: ${DEFAULT-VALUE})", defaultValue = "65536")
    int maxPayload;

    @Option(names = "--device-rate", description = "Messages per second one device may send, bursts of twice that (default: ${DEFAULT-VALUE})", defaultValue = "100")
    int deviceRate;

    @Option(names = "--dev-plaintext", description = "DEVELOPMENT ONLY: also listen for plaintext MQTT on 127.0.0.1 (port --dev-plaintext-port)")
    boolean devPlaintext;

    @Option(names = "--dev-plaintext-port", description = "Port of the development plaintext MQTT listener (default: ${DEFAULT-VALUE})", defaultValue = "1884")
    int devPlaintextPort;

    ServerConfig toConfig() {
        return ServerConfig.builder().dataDir(data).databaseUrl(db).httpsPort(httpsPort).mqttPort(mqttPort)
                .bindAddress(bind).hostNames(hostNames).maxPayloadBytes(maxPayload).deviceMessagesPerSecond(deviceRate)
                .devPlaintextPort(devPlaintext ? devPlaintextPort : -1).deviceHttpsPort(deviceHttpsPort).build();
    }
}
