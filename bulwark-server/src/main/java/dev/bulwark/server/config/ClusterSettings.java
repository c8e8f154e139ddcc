package dev.bulwark.server.config;

import java.nio.file.Path;
import java.time.Duration;
import java.util.List;
import java.util.Objects;
import java.util.regex.Pattern;

/**
 * How one node joins a cluster: the Kafka brokers every node shares (PostgreSQL is the other shared part, given
 * by the database URL), the node's own id, and the Kafka client settings for TLS and SASL.
 *
 * @param bootstrap     Kafka bootstrap servers, {@code HOST:PORT} each
 * @param nodeId        this node's id: unique in the cluster, stable across restarts (it names the node's inbox
 *                      topic and appears in security events); {@code [a-z0-9][a-z0-9-]{0,31}}
 * @param clientConfig  a Kafka client properties file (owner-only: it may hold SASL credentials or key store
 *                      passwords) for {@code security.protocol}, {@code ssl.*}, {@code sasl.*}; null for plaintext
 * @param topicPrefix   prefix of every topic the cluster uses (several clusters may share one Kafka)
 * @param northboundRetention how long the tenants' data topics keep a record
 */
public record ClusterSettings(List<String> bootstrap, String nodeId, Path clientConfig, String topicPrefix, Duration northboundRetention) {
    private static final Pattern NODE_ID = Pattern.compile("[a-z0-9][a-z0-9-]{0,31}");
    private static final Pattern HOST_PORT = Pattern.compile("[A-Za-z0-9.\\-]+:[0-9]{1,5}|\\[[0-9a-fA-F:]+\\]:[0-9]{1,5}");
    private static final Pattern PREFIX = Pattern.compile("[a-z0-9][a-z0-9-]{0,31}");
    public static final String DEFAULT_PREFIX = "bulwark";
    public static final Duration DEFAULT_NORTHBOUND_RETENTION = Duration.ofDays(7);

    public ClusterSettings {
        bootstrap = List.copyOf(bootstrap);
        if (bootstrap.isEmpty()) {
            throw new IllegalArgumentException("--kafka needs at least one HOST:PORT");
        }
        for (String b : bootstrap) {
            if (!HOST_PORT.matcher(b).matches()) {
                throw new IllegalArgumentException("--kafka: '" + b + "' is not HOST:PORT");
            }
        }
        Objects.requireNonNull(nodeId, "nodeId");
        if (!NODE_ID.matcher(nodeId).matches()) {
            throw new IllegalArgumentException("--node-id must match [a-z0-9][a-z0-9-]{0,31}");
        }
        topicPrefix = topicPrefix == null ? DEFAULT_PREFIX : topicPrefix;
        if (!PREFIX.matcher(topicPrefix).matches()) {
            throw new IllegalArgumentException("the topic prefix must match [a-z0-9][a-z0-9-]{0,31}");
        }
        northboundRetention = northboundRetention == null ? DEFAULT_NORTHBOUND_RETENTION : northboundRetention;
        if (northboundRetention.toMinutes() < 1) {
            throw new IllegalArgumentException("the northbound retention must be at least one minute");
        }
    }

    /** Parses {@code --kafka HOST:PORT[,HOST:PORT...]}. */
    public static List<String> parseBootstrap(String value) {
        return List.of(value.trim().split("\\s*,\\s*"));
    }

    /** A node id derived from the host name, for a node started without {@code --node-id}. */
    public static String defaultNodeId() {
        String host;
        try {
            host = java.net.InetAddress.getLocalHost().getHostName();
        } catch (java.net.UnknownHostException e) {
            host = "node";
        }
        String id = host.toLowerCase(java.util.Locale.ROOT).replaceAll("[^a-z0-9-]", "-").replaceAll("^-+", "");
        id = id.isEmpty() ? "node" : id;
        return id.length() > 32 ? id.substring(0, 32) : id;
    }
}
