package dev.bulwark.server.cluster;

import java.time.Duration;
import java.util.HashSet;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.TimeoutException;
import org.apache.kafka.clients.admin.Admin;
import org.apache.kafka.clients.admin.AlterConfigOp;
import org.apache.kafka.clients.admin.ConfigEntry;
import org.apache.kafka.common.config.ConfigResource;
import org.apache.kafka.common.errors.InterruptException;

/**
 * The tenants' data topics {@code <prefix>.data.<tenant>}: created when a node first publishes a record of the
 * tenant, with {@value #PARTITIONS} partitions, {@code cleanup.policy=delete}, the cluster's northbound retention,
 * and segments rolled at least every {@link #MAX_SEGMENT} (Kafka deletes whole segments, so a record lives at most
 * about the retention plus that). A topic an earlier run created gets this node's retention the first time it is
 * used. Used by the publisher thread only.
 */
final class DataTopics {
    static final int PARTITIONS = 3;
    static final Duration MAX_SEGMENT = Duration.ofHours(1);

    private final Kafka kafka;
    private final Map<String, String> config;
    private final Set<String> ready = new HashSet<>();

    DataTopics(Kafka kafka) {
        this.kafka = kafka;
        this.config = config(kafka.settings().northboundRetention());
    }

    static Map<String, String> config(Duration retention) {
        long segment = Math.min(retention.toMillis(), MAX_SEGMENT.toMillis());
        return Map.of("retention.ms", String.valueOf(retention.toMillis()), "segment.ms", String.valueOf(segment), "cleanup.policy", "delete");
    }

    /** The tenant's topic, created (or its retention set) the first time. */
    String of(String tenant) {
        String topic = kafka.topic(NorthboundRecord.topic(tenant));
        if (ready.contains(topic)) {
            return topic;
        }
        kafka.ensureTopics(List.of(new Kafka.TopicSpec(topic, PARTITIONS, config)));
        try (Admin admin = kafka.admin()) {
            List<AlterConfigOp> ops = List.of("retention.ms", "segment.ms").stream()
                    .map(k -> new AlterConfigOp(new ConfigEntry(k, config.get(k)), AlterConfigOp.OpType.SET)).toList();
            admin.incrementalAlterConfigs(Map.of(new ConfigResource(ConfigResource.Type.TOPIC, topic), ops)).all().get(30, TimeUnit.SECONDS);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new InterruptException(e);
        } catch (ExecutionException | TimeoutException e) {
            throw new IllegalStateException("cannot set the retention of Kafka topic " + topic + ": "
                    + (e.getCause() == null ? e.getClass().getSimpleName() : e.getCause().getMessage()));
        }
        ready.add(topic);
        return topic;
    }
}
