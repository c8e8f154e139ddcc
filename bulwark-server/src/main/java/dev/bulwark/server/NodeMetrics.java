package dev.bulwark.server;

import dev.bulwark.server.bus.EventBus;
import dev.bulwark.server.device.LiveSessions;
import dev.bulwark.server.monitor.Metrics;
import dev.bulwark.server.monitor.SecurityEvents;
import dev.bulwark.server.monitor.SourceGuard;
import dev.bulwark.server.monitor.Webhooks;
import dev.bulwark.server.telemetry.GroupCommitWriter;
import dev.bulwark.server.telemetry.TelemetryStore;

/** The node's gauges and counters, read from the parts that keep them. */
final class NodeMetrics {
    private NodeMetrics() {
    }

    static void register(Metrics m, GroupCommitWriter writer, TelemetryStore telemetry, LiveSessions sessions, SourceGuard guard,
                         SecurityEvents events, EventBus bus, Webhooks webhooks) {
        writer.onBatch(nanos -> m.committed(java.time.Duration.ofNanos(nanos)));
        m.gauge("bulwark_connections", "Device sessions open on this node", sessions::size);
        m.counter("bulwark_telemetry_messages_committed", "Device messages committed", writer::committedMessages);
        m.counter("bulwark_telemetry_batches_committed", "Group-commit batches committed", writer::batches);
        m.gauge("bulwark_telemetry_writer_held_bytes", "Bytes of device messages queued or being committed", writer::heldBytes);
        m.counter("bulwark_telemetry_writer_refused_full", "Device messages the writer refused because its queue was full "
                + "(in messages or in bytes): the sender was slowed down or refused, nothing was acknowledged", writer::refusedFull);
        m.counter("bulwark_telemetry_writer_failed_batches", "Group-commit batches whose commit failed (e.g. the database was "
                + "unreachable): their messages were refused, not acknowledged, and are sent again", writer::failedBatches);
        m.counter("bulwark_telemetry_writer_failed_messages", "Device messages of the batches whose commit failed", writer::failedMessages);
        m.gauge("bulwark_telemetry_writer_stalled", "1 from a failed commit until the next one succeeds: acknowledgements are paused",
                () -> writer.stalled() ? 1 : 0);
        m.counter("bulwark_telemetry_messages_compacted", "Device messages moved from the log into per-device segments",
                telemetry::compactedMessages);
        m.counter("bulwark_telemetry_compactions", "Compaction transactions run", telemetry::compactions);
        m.counter("bulwark_telemetry_messages_dropped_destroyed_key", "Messages the compactor dropped: sealed under a key destroyed "
                + "by an owner's deletion while they waited in the log", telemetry::droppedMessages);
        m.gauge("bulwark_bans_active", "Source addresses banned now", () -> guard.active().size());
        m.counter("bulwark_bans_issued", "Bans issued since start", guard::bansIssued);
        m.counter("bulwark_refused_while_banned", "Connections and requests refused because their source is banned",
                guard::refusedWhileBanned);
        m.counter("bulwark_security_events_dropped", "Security events that did not fit the queue", events::dropped);
        m.counter("bulwark_bus_events_dropped", "Bus events dropped for a subscriber that was behind", bus::dropped);
        m.counter("bulwark_webhook_deliveries", "Alert deliveries to webhooks that succeeded", webhooks::delivered);
        m.counter("bulwark_webhook_failures", "Alert deliveries to webhooks given up", webhooks::failedDeliveries);
    }

    /** A cluster node's view of the bus it shares with the other nodes. */
    static void registerCluster(Metrics m, dev.bulwark.server.cluster.ClusterNode cluster) {
        var bus = cluster.bus();
        m.counter("bulwark_cluster_records_published", "Records this node published on the cluster bus (Kafka)", bus::published);
        m.counter("bulwark_cluster_records_received", "Records this node read from the cluster bus (its own included)", bus::received);
        m.counter("bulwark_cluster_publish_failures", "Cluster bus records Kafka did not take (unreachable beyond the delivery timeout)",
                bus::failedPublishes);
    }

    static void registerSessionSweep(Metrics m, dev.bulwark.server.cluster.SessionSweep sweep) {
        m.counter("bulwark_cluster_session_sweeps", "Sweeps of this node's sessions against the database (the containment backstop)",
                sweep::sweeps);
        m.counter("bulwark_cluster_session_sweep_closed", "Sessions the sweep closed: refused now, or their lease taken by a later "
                + "session (a termination or takeover Kafka did not bring)", sweep::closed);
        m.counter("bulwark_cluster_session_sweep_failures", "Sweeps that could not reach the database", sweep::failed);
        m.gauge("bulwark_cluster_session_sweep_seconds", "How long the last sweep took", () -> sweep.lastSweepMicros() / 1e6);
    }
}
