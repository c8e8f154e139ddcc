package dev.bulwark.server.cluster;

import java.util.List;
import java.util.Optional;
import org.jdbi.v3.core.Handle;

/**
 * The northbound outbox ({@code northbound_outbox}): per node, the telemetry log rows it committed whose messages
 * Kafka has not confirmed yet. Log rows carry the messages of any tenants, so the outbox is keyed by node and log
 * row, never by tenant; the one statement here that reads tenant data (a period's id) names the tenant.
 */
final class NorthboundStore {
    /** In the transaction that appends them: {@code node} wrote log rows {@code rows}. */
    void appended(Handle h, String node, long[] rows) {
        var batch = h.prepareBatch("INSERT INTO northbound_outbox (node_id, log_id) VALUES (:n, :r)");
        for (long r : rows) {
            batch.bind("n", node).bind("r", r).add();
        }
        batch.execute();
    }

    /** Up to {@code limit} of {@code node}'s unconfirmed log rows after {@code after}, oldest first. */
    List<Long> pending(Handle h, String node, long after, int limit) {
        return h.createQuery("SELECT log_id FROM northbound_outbox WHERE node_id = :n AND log_id > :a ORDER BY log_id LIMIT " + limit)
                .bind("n", node).bind("a", after).mapTo(Long.class).list();
    }

    /** Every message of {@code node}'s log rows up to {@code upTo} is on its topic. */
    int confirmed(Handle h, String node, long upTo) {
        return h.createUpdate("DELETE FROM northbound_outbox WHERE node_id = :n AND log_id <= :u").bind("n", node).bind("u", upTo).execute();
    }

    /** How many log rows of {@code node} wait for Kafka's confirmation. */
    long backlog(Handle h, String node) {
        return h.createQuery("SELECT COUNT(*) FROM northbound_outbox WHERE node_id = :n").bind("n", node).mapTo(Long.class).one();
    }

    /** The id of the ownership period whose data key is {@code keyId}; empty once the period was deleted with its owner. */
    Optional<String> period(Handle h, String tenant, String device, String keyId) {
        return h.createQuery("SELECT id FROM ownership_periods WHERE tenant_id = :t AND device_id = :d AND key_id = :k")
                .bind("t", tenant).bind("d", device).bind("k", keyId).mapTo(String.class).findOne();
    }
}
