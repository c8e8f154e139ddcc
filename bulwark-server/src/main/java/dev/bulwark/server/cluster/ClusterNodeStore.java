package dev.bulwark.server.cluster;

import java.util.Optional;
import org.jdbi.v3.core.Handle;

/** The {@code cluster_nodes} table: which run of a node holds its id, and its last heartbeat. */
public final class ClusterNodeStore {

    /** The run holding a node id and when it last beat. */
    public record Holder(String runId, long heartbeatMs) {
    }

    /** The node id's row, locked until the transaction ends. */
    public Optional<Holder> lock(Handle h, String node) {
        return h.createQuery("SELECT run_id, heartbeat_ms FROM cluster_nodes WHERE node_id = :n FOR UPDATE").bind("n", node)
                .map((rs, ctx) -> new Holder(rs.getString("run_id"), rs.getLong("heartbeat_ms"))).findOne();
    }

    /** Makes {@code run} the holder of the node id. */
    public void hold(Handle h, String node, String run, long nowMs, boolean exists) {
        if (exists) {
            h.createUpdate("UPDATE cluster_nodes SET run_id = :r, started_ms = :now, heartbeat_ms = :now WHERE node_id = :n")
                    .bind("n", node).bind("r", run).bind("now", nowMs).execute();
        } else {
            h.createUpdate("INSERT INTO cluster_nodes (node_id, run_id, started_ms, heartbeat_ms) VALUES (:n, :r, :now, :now)")
                    .bind("n", node).bind("r", run).bind("now", nowMs).execute();
        }
    }

    /** A heartbeat of {@code run}; false when another run holds the id now. */
    public boolean beat(Handle h, String node, String run, long nowMs) {
        return h.createUpdate("UPDATE cluster_nodes SET heartbeat_ms = :now WHERE node_id = :n AND run_id = :r")
                .bind("n", node).bind("r", run).bind("now", nowMs).execute() == 1;
    }

    /** Gives the id up (a clean stop). */
    public void release(Handle h, String node, String run) {
        h.createUpdate("DELETE FROM cluster_nodes WHERE node_id = :n AND run_id = :r").bind("n", node).bind("r", run).execute();
    }
}
