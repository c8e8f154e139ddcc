package dev.bulwark.server.cli;

import dev.bulwark.server.config.DetectionSettings;
import dev.bulwark.server.config.KekSettings;
import dev.bulwark.server.config.ServerConfig;
import java.time.Duration;
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

    @Option(names = "--tenant-connections", description = "Device connections one tenant may hold (default: ${DEFAULT-VALUE})", defaultValue = "100000")
    int tenantConnections;

    @Option(names = "--tenant-rate", description = "Messages per second one tenant's devices may send together (default: ${DEFAULT-VALUE})",
            defaultValue = "50000")
    int tenantRate;

    @Option(names = "--detect-window", description = "Seconds the detector looks back (default: ${DEFAULT-VALUE})", defaultValue = "60")
    int detectWindow;

    @Option(names = "--detect-brute-force", description = "Different failing secrets on one identity that make a brute-force attack (default: ${DEFAULT-VALUE})",
            defaultValue = "5")
    int detectBruteForce;

    @Option(names = "--detect-distributed", description = "Sources failing on one identity that make a distributed attack (default: ${DEFAULT-VALUE})",
            defaultValue = "5")
    int detectDistributed;

    @Option(names = "--detect-enumeration", description = "Identities failing from one source that make an enumeration (default: ${DEFAULT-VALUE})",
            defaultValue = "10")
    int detectEnumeration;

    @Option(names = "--ban-seconds", description = "First ban of an attacking source; doubles with each further ban (default: ${DEFAULT-VALUE})",
            defaultValue = "60")
    int banSeconds;

    @Option(names = "--security-events-retention-days", description = "Days security events and alerts are kept (default: ${DEFAULT-VALUE})",
            defaultValue = "90")
    int securityEventsRetentionDays;

    @Option(names = "--security-log-max-mib", description = "Size in MiB at which log/security-events.jsonl rotates (default: ${DEFAULT-VALUE})",
            defaultValue = "64")
    int securityLogMaxMib;

    @Option(names = "--security-log-files", description = "Rotated security event logs kept (default: ${DEFAULT-VALUE})", defaultValue = "10")
    int securityLogFiles;

    @Option(names = "--webhook-ca", description = "PEM file of extra CAs trusted for alert webhooks (besides the JDK's)")
    Path webhookCa;

    @Option(names = "--kek", paramLabel = "data|file:PATH|pkcs11:CONFIG",
            description = "Where the key-encryption key lives: 'data' (default: <data>/keys/kek, a backup of the data directory then "
                    + "defeats crypto-shredding), 'file:/path' (a file outside the data directory, created owner-only) or "
                    + "'pkcs11:/path/provider.cfg' (a key generated on a PKCS#11 token through SunPKCS11; it never leaves the token)")
    String kek;

    @Option(names = "--kek-pin-file", description = "Owner-only file holding the PKCS#11 token PIN (else the environment variable of --kek-pin-env)")
    Path kekPinFile;

    @Option(names = "--kek-pin-env", description = "Environment variable holding the PKCS#11 token PIN (default: ${DEFAULT-VALUE})",
            defaultValue = KekSettings.DEFAULT_PIN_ENV)
    String kekPinEnv;

    @Option(names = "--kek-label", description = "Label of the key-encryption key on the PKCS#11 token (default: ${DEFAULT-VALUE})",
            defaultValue = KekSettings.DEFAULT_LABEL)
    String kekLabel;

    @Option(names = "--kafka", paramLabel = "HOST:PORT[,HOST:PORT...]",
            description = "Kafka brokers of the cluster this node joins (with --db jdbc:postgresql://...); without it the node is standalone")
    String kafka;

    @Option(names = "--node-id", description = "This node's id in the cluster, unique and stable across restarts (default: the host name)")
    String nodeId;

    @Option(names = "--kafka-config", description = "Owner-only Kafka client properties file (security.protocol, ssl.*, sasl.*) for TLS and SASL")
    Path kafkaConfig;

    @Option(names = "--kafka-topic-prefix", description = "Prefix of the cluster's Kafka topics (default: ${DEFAULT-VALUE})",
            defaultValue = dev.bulwark.server.config.ClusterSettings.DEFAULT_PREFIX)
    String kafkaTopicPrefix;

    @Option(names = "--northbound-retention-hours", description = "Hours a tenant's data topic keeps a record (default: ${DEFAULT-VALUE})",
            defaultValue = "168")
    long northboundRetentionHours;

    @Option(names = "--proxy-protocol", description = "The listeners expect a PROXY protocol header (v1 or v2) from the load balancer on "
            + "every connection and take the client's address from it; connections without it are refused. Enable only when the "
            + "nodes' ports are reachable from the load balancer alone: a client reaching a node directly could claim any address")
    boolean proxyProtocol;

    /** The cluster settings from these options, or null for a standalone node. */
    dev.bulwark.server.config.ClusterSettings cluster() {
        if (kafka == null || kafka.isBlank()) {
            if (nodeId != null || kafkaConfig != null) {
                throw new IllegalArgumentException("--node-id and --kafka-config need --kafka");
            }
            return null;
        }
        return new dev.bulwark.server.config.ClusterSettings(dev.bulwark.server.config.ClusterSettings.parseBootstrap(kafka),
                nodeId == null ? dev.bulwark.server.config.ClusterSettings.defaultNodeId() : nodeId, kafkaConfig, kafkaTopicPrefix,
                Duration.ofHours(northboundRetentionHours));
    }

    /** The node's configuration from these options (also used by the benchmark-only entry of {@code bulwark-bench}). */
    public ServerConfig toConfig() {
        DetectionSettings d = DetectionSettings.defaults();
        d = new DetectionSettings(Duration.ofSeconds(detectWindow), detectBruteForce, detectDistributed, detectEnumeration,
                d.misconfiguredRepeats(), d.cloneTakeovers(), d.floodingViolations(), d.tarpitFreeFailures(), d.tarpitMax(),
                Duration.ofSeconds(banSeconds), d.banMax().compareTo(Duration.ofSeconds(banSeconds)) < 0 ? Duration.ofSeconds(banSeconds) : d.banMax());
        return ServerConfig.builder().dataDir(data).databaseUrl(db).httpsPort(httpsPort).mqttPort(mqttPort)
                .bindAddress(bind).hostNames(hostNames).maxPayloadBytes(maxPayload).deviceMessagesPerSecond(deviceRate)
                .devPlaintextPort(devPlaintext ? devPlaintextPort : -1).deviceHttpsPort(deviceHttpsPort)
                .tenantMaxConnections(tenantConnections).tenantMessagesPerSecond(tenantRate).detection(d).webhookTrust(webhookCa)
                .kek(KekSettings.parse(kek, kekPinFile, kekPinEnv, kekLabel)).cluster(cluster()).proxyProtocol(proxyProtocol)
                .securityEvents(dev.bulwark.server.config.SecurityEventSettings.defaults().withRetention(Duration.ofDays(securityEventsRetentionDays))
                        .withLog(securityLogMaxMib * 1024L * 1024L, securityLogFiles))
                .build();
    }
}
