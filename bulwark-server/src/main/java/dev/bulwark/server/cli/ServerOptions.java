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

    @Option(names = "--bind", description = "Address to listen on (default: ${DEFAULT-VALUE})", defaultValue = "0.0.0.0")
    String bind;

    @Option(names = "--host-name", description = "Extra DNS name for the server certificate (repeatable)")
    List<String> hostNames = new ArrayList<>();

    ServerConfig toConfig() {
        return ServerConfig.builder().dataDir(data).databaseUrl(db).httpsPort(httpsPort).mqttPort(mqttPort)
                .bindAddress(bind).hostNames(hostNames).build();
    }
}
