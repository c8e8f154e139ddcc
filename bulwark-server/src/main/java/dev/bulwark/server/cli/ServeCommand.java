package dev.bulwark.server.cli;

import dev.bulwark.server.BulwarkServer;
import dev.bulwark.server.config.ServerConfig;
import java.util.concurrent.CountDownLatch;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;

/** {@code bulwark serve}: run a node until interrupted. */
@Command(name = "serve", mixinStandardHelpOptions = true,
        description = "Run the Bulwark backend. With no options: embedded database and generated PKI in ./bulwark-data.")
public final class ServeCommand implements java.util.concurrent.Callable<Integer> {
    @Mixin
    ServerOptions options;

    @Override
    public Integer call() throws InterruptedException {
        ServerConfig config = options.toConfig();
        BulwarkServer server = BulwarkServer.start(config);
        System.out.println("Bulwark is running: REST API https://localhost:" + server.httpsPort() + "/api/v1");
        System.out.println("  MQTT over TLS:           port " + server.mqttPort() + " (client certificate or device token)");
        System.out.println("  device HTTPS:            https://localhost:" + server.deviceHttpsPort() + "/device/v1/telemetry");
        if (server.mqttPlaintextPort() >= 0) {
            System.out.println("  DEVELOPMENT plaintext MQTT on 127.0.0.1:" + server.mqttPlaintextPort() + " -- never use with real devices");
        }
        System.out.println("  platform CA certificate: " + server.caPemFile());
        System.out.println("  bound ports:             " + server.portsFile());
        dev.bulwark.server.config.KekSettings kek = config.kek();
        System.out.println("  key-encryption key:      " + switch (kek.source()) {
            case DATA_DIRECTORY -> server.dataDir().resolve("keys/kek") + " -- INSIDE the data directory: a backup of it defeats "
                    + "crypto-shredding (see --kek)";
            case FILE -> kek.path().toAbsolutePath();
            case PKCS11 -> "'" + kek.label() + "' on the PKCS#11 token of " + kek.path();
        });
        System.out.println("  bootstrap admin token:   " + server.dataDir().resolve("bootstrap/admin.token") + " (owner-only file)");
        awaitShutdown(server);
        return 0;
    }

    static void awaitShutdown(BulwarkServer server) throws InterruptedException {
        CountDownLatch stopped = new CountDownLatch(1);
        Runtime.getRuntime().addShutdownHook(new Thread(() -> {
            System.out.println("Stopping Bulwark...");
            server.close();
            stopped.countDown();
        }, "bulwark-shutdown"));
        stopped.await();
    }
}
