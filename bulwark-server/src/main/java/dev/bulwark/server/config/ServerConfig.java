package dev.bulwark.server.config;

import java.nio.file.Path;
import java.time.Duration;
import java.util.List;
import java.util.Objects;

/**
 * Settings of one Bulwark node. Immutable; every field has a secure default.
 *
 * @param dataDir       the node's data directory (keys, embedded database, logs)
 * @param databaseUrl   a JDBC URL, or {@code null} for the embedded H2 database in the data directory
 * @param bindAddress   the address the listeners bind to
 * @param httpsPort     REST API port; 0 picks an ephemeral port
 * @param mqttPort      MQTT over TLS port; 0 picks an ephemeral port
 * @param hostNames     extra DNS names for the server certificate (localhost is always included)
 * @param apiBodyLimit  largest accepted REST request body, in bytes
 * @param operatorTokenTtl lifetime of operator API tokens unless the request asks for less
 * @param bootstrapTokenTtl lifetime of the bootstrap platform-admin token
 * @param deviceCertificateTtl default validity of device certificates
 * @param maxPayloadBytes largest device message payload accepted (MQTT and device HTTPS)
 * @param deviceMessagesPerSecond sustained per-device message rate; a burst of twice this is allowed
 * @param devPlaintextPort a plaintext MQTT port on loopback for development, or -1 (the default: none)
 * @param deviceHttpsPort device HTTPS (telemetry over HTTP, later enrollment and firmware); 0 picks a port
 * @param plaintextPayloads BENCHMARKING ONLY, set by {@code bulwark bench}'s own entry point (no {@code serve} option)
 * @param kek           where the key-encryption key lives (default: the data directory, with a warning at start)
 * @param cluster       the cluster this node is one of (Kafka, node id), or {@code null} for a standalone node
 * @param proxyProtocol the MQTT, REST and device HTTPS listeners expect a PROXY protocol header (v1 or v2) on every
 *                      connection and take the client's address from it (default false: only behind a load balancer)
 */
public record ServerConfig(
        Path dataDir,
        String databaseUrl,
        String bindAddress,
        int httpsPort,
        int mqttPort,
        List<String> hostNames,
        int apiBodyLimit,
        Duration operatorTokenTtl,
        Duration bootstrapTokenTtl,
        Duration deviceCertificateTtl,
        int maxPayloadBytes,
        int deviceMessagesPerSecond,
        int devPlaintextPort,
        int deviceHttpsPort,
        int tenantMaxConnections,
        int tenantMessagesPerSecond,
        DetectionSettings detection,
        Path webhookTrust,
        boolean allowPrivateWebhookTargets,
        boolean plaintextPayloads,
        KekSettings kek,
        SecurityEventSettings securityEvents,
        ClusterSettings cluster,
        boolean proxyProtocol) {

    public static final int DEFAULT_HTTPS_PORT = 8443;
    public static final int DEFAULT_MQTT_PORT = 8883;
    public static final int DEFAULT_DEVICE_HTTPS_PORT = 8444;

    public ServerConfig {
        Objects.requireNonNull(dataDir, "dataDir");
        Objects.requireNonNull(bindAddress, "bindAddress");
        hostNames = List.copyOf(hostNames);
        if (httpsPort < 0 || httpsPort > 65535 || mqttPort < 0 || mqttPort > 65535) {
            throw new IllegalArgumentException("ports must be between 0 and 65535");
        }
        if (maxPayloadBytes < 1 || deviceMessagesPerSecond < 1) {
            throw new IllegalArgumentException("maxPayloadBytes and deviceMessagesPerSecond must be positive");
        }
        if (tenantMaxConnections < 1 || tenantMessagesPerSecond < 1) {
            throw new IllegalArgumentException("tenantMaxConnections and tenantMessagesPerSecond must be positive");
        }
        Objects.requireNonNull(detection, "detection");
        kek = kek == null ? KekSettings.dataDirectory() : kek;
        Objects.requireNonNull(securityEvents, "securityEvents");
        if (cluster != null && databaseUrl == null) {
            throw new IllegalArgumentException("a cluster node needs the shared database: give --db jdbc:postgresql://... with --kafka");
        }
        if (apiBodyLimit < 1024) {
            throw new IllegalArgumentException("apiBodyLimit must be at least 1024 bytes");
        }
    }

    /** True when this node is one of a cluster (Kafka given). */
    public boolean clustered() {
        return cluster != null;
    }

    public boolean embeddedDatabase() {
        return databaseUrl == null;
    }

    public static Builder builder() {
        return new Builder();
    }

    public Builder toBuilder() {
        return new Builder().dataDir(dataDir).databaseUrl(databaseUrl).bindAddress(bindAddress)
                .httpsPort(httpsPort).mqttPort(mqttPort).hostNames(hostNames).apiBodyLimit(apiBodyLimit)
                .operatorTokenTtl(operatorTokenTtl).bootstrapTokenTtl(bootstrapTokenTtl)
                .deviceCertificateTtl(deviceCertificateTtl).maxPayloadBytes(maxPayloadBytes)
                .deviceMessagesPerSecond(deviceMessagesPerSecond).devPlaintextPort(devPlaintextPort).deviceHttpsPort(deviceHttpsPort)
                .tenantMaxConnections(tenantMaxConnections).tenantMessagesPerSecond(tenantMessagesPerSecond).detection(detection)
                .webhookTrust(webhookTrust).allowPrivateWebhookTargets(allowPrivateWebhookTargets).plaintextPayloads(plaintextPayloads)
                .kek(kek)
                .securityEvents(securityEvents).cluster(cluster).proxyProtocol(proxyProtocol);
    }

    /** Builder with the defaults of {@code bulwark serve}. */
    public static final class Builder {
        private Path dataDir = Path.of("bulwark-data");
        private String databaseUrl;
        private String bindAddress = "0.0.0.0";
        private int httpsPort = DEFAULT_HTTPS_PORT;
        private int mqttPort = DEFAULT_MQTT_PORT;
        private List<String> hostNames = List.of();
        private int apiBodyLimit = 64 * 1024;
        private Duration operatorTokenTtl = Duration.ofDays(90);
        private Duration bootstrapTokenTtl = Duration.ofDays(365);
        private Duration deviceCertificateTtl = Duration.ofDays(365);
        private int maxPayloadBytes = 64 * 1024;
        private int deviceMessagesPerSecond = 100;
        private int devPlaintextPort = -1;
        private int deviceHttpsPort = DEFAULT_DEVICE_HTTPS_PORT;
        private int tenantMaxConnections = 100_000;
        private int tenantMessagesPerSecond = 50_000;
        private DetectionSettings detection = DetectionSettings.defaults();
        private Path webhookTrust;
        private boolean allowPrivateWebhookTargets;
        private boolean plaintextPayloads;
        private KekSettings kek = KekSettings.dataDirectory();
        private SecurityEventSettings securityEvents = SecurityEventSettings.defaults();
        private ClusterSettings cluster;
        private boolean proxyProtocol;

        public Builder dataDir(Path v) { dataDir = v; return this; }
        public Builder databaseUrl(String v) { databaseUrl = v; return this; }
        public Builder bindAddress(String v) { bindAddress = v; return this; }
        public Builder httpsPort(int v) { httpsPort = v; return this; }
        public Builder mqttPort(int v) { mqttPort = v; return this; }
        public Builder hostNames(List<String> v) { hostNames = v; return this; }
        public Builder apiBodyLimit(int v) { apiBodyLimit = v; return this; }
        public Builder operatorTokenTtl(Duration v) { operatorTokenTtl = v; return this; }
        public Builder bootstrapTokenTtl(Duration v) { bootstrapTokenTtl = v; return this; }
        public Builder deviceCertificateTtl(Duration v) { deviceCertificateTtl = v; return this; }
        public Builder maxPayloadBytes(int v) { maxPayloadBytes = v; return this; }
        public Builder deviceMessagesPerSecond(int v) { deviceMessagesPerSecond = v; return this; }
        /** Development only: a plaintext MQTT listener on 127.0.0.1 (0 = ephemeral port, -1 = none). */
        public Builder devPlaintextPort(int v) { devPlaintextPort = v; return this; }
        public Builder deviceHttpsPort(int v) { deviceHttpsPort = v; return this; }
        /** Concurrent device connections one tenant may hold on this node. */
        public Builder tenantMaxConnections(int v) { tenantMaxConnections = v; return this; }
        /** Device messages per second one tenant may send to this node, all its devices together. */
        public Builder tenantMessagesPerSecond(int v) { tenantMessagesPerSecond = v; return this; }
        public Builder detection(DetectionSettings v) { detection = v; return this; }
        public Builder securityEvents(SecurityEventSettings v) { securityEvents = v; return this; }
        /** Extra CA certificates (PEM) trusted for webhook HTTPS, besides the JDK's. */
        public Builder webhookTrust(Path v) { webhookTrust = v; return this; }
        /** Allow webhooks to loopback and private addresses (off by default: a webhook must not reach inside). */
        public Builder allowPrivateWebhookTargets(boolean v) { allowPrivateWebhookTargets = v; return this; }
        /** BENCHMARKING ONLY: store device payloads unencrypted, to measure what encryption costs. */
        public Builder plaintextPayloads(boolean v) { plaintextPayloads = v; return this; }
        /** Where the key-encryption key lives: the data directory (default), a file outside it, or a PKCS#11 token. */
        public Builder kek(KekSettings v) { kek = v; return this; }
        /** The cluster this node is one of; null (the default) for a standalone node. */
        public Builder cluster(ClusterSettings v) { cluster = v; return this; }
        /** The listeners take the client's address from a PROXY protocol header that every connection must start with. */
        public Builder proxyProtocol(boolean v) { proxyProtocol = v; return this; }

        public ServerConfig build() {
            return new ServerConfig(dataDir, databaseUrl, bindAddress, httpsPort, mqttPort, hostNames,
                    apiBodyLimit, operatorTokenTtl, bootstrapTokenTtl, deviceCertificateTtl, maxPayloadBytes,
                    deviceMessagesPerSecond, devPlaintextPort, deviceHttpsPort, tenantMaxConnections, tenantMessagesPerSecond, detection,
                    webhookTrust, allowPrivateWebhookTargets, plaintextPayloads, kek, securityEvents, cluster, proxyProtocol);
        }
    }
}
