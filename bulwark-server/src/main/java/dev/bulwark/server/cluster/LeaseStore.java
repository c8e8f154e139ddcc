package dev.bulwark.server.cluster;

import dev.bulwark.protocol.DeviceId;
import dev.bulwark.protocol.TenantId;
import java.util.ArrayList;
import java.util.List;
import java.util.Optional;
import org.jdbi.v3.core.Handle;
import org.jdbi.v3.core.mapper.RowMapper;

/**
 * The {@code device_leases} table: for each device with a live session somewhere in the cluster, the node
 * holding it and the lease's epoch. Every statement is keyed by tenant and device.
 */
public final class LeaseStore {

    /** A device's lease: held by {@code node} since {@code sinceMs}, {@code epoch} counting the device's sessions. */
    public record Lease(TenantId tenant, DeviceId device, String node, long epoch, String sessionId, String source, long sinceMs) {
    }

    private static final RowMapper<Lease> MAPPER = (rs, ctx) -> new Lease(TenantId.of(rs.getString("tenant_id")),
            DeviceId.of(rs.getString("device_id")), rs.getString("node_id"), rs.getLong("epoch"), rs.getString("session_id"),
            rs.getString("source"), rs.getLong("since_ms"));

    /**
     * Takes the device's lease for a new session on {@code node}, superseding whichever lease it had; returns
     * the lease taken (its epoch one above the previous one) and the one it superseded, if any. Run it in a
     * transaction: the previous lease is read under a row lock.
     */
    public Acquired acquire(Handle h, TenantId tenant, DeviceId device, String node, String sessionId, String source, long nowMs) {
        for (int attempt = 0; ; attempt++) {
            Optional<Lease> previous = h.createQuery("SELECT * FROM device_leases WHERE tenant_id = :t AND device_id = :d FOR UPDATE")
                    .bind("t", tenant.value()).bind("d", device.value()).map(MAPPER).findOne();
            if (previous.isPresent()) {
                long epoch = previous.get().epoch() + 1;
                h.createUpdate("UPDATE device_leases SET node_id = :n, epoch = :e, session_id = :s, source = :src, since_ms = :now "
                                + "WHERE tenant_id = :t AND device_id = :d")
                        .bind("t", tenant.value()).bind("d", device.value()).bind("n", node).bind("e", epoch).bind("s", sessionId)
                        .bind("src", source).bind("now", nowMs).execute();
                return new Acquired(new Lease(tenant, device, node, epoch, sessionId, source, nowMs), previous);
            }
            h.savepoint("lease");
            try {
                h.createUpdate("INSERT INTO device_leases (tenant_id, device_id, node_id, epoch, session_id, source, since_ms) "
                                + "VALUES (:t, :d, :n, 1, :s, :src, :now)")
                        .bind("t", tenant.value()).bind("d", device.value()).bind("n", node).bind("s", sessionId).bind("src", source)
                        .bind("now", nowMs).execute();
                h.releaseSavepoint("lease");
                return new Acquired(new Lease(tenant, device, node, 1, sessionId, source, nowMs), Optional.empty());
            } catch (org.jdbi.v3.core.statement.UnableToExecuteStatementException raced) {
                if (attempt >= 2) {
                    throw raced;
                }
                h.rollbackToSavepoint("lease");
                // another node inserted the first lease meanwhile: read it under the lock and supersede it
            }
        }
    }

    /** A lease taken, and the one it superseded. */
    public record Acquired(Lease lease, Optional<Lease> superseded) {
    }

    /** The device's lease, if some node holds one. */
    public Optional<Lease> current(Handle h, TenantId tenant, DeviceId device) {
        return h.createQuery("SELECT * FROM device_leases WHERE tenant_id = :t AND device_id = :d")
                .bind("t", tenant.value()).bind("d", device.value()).map(MAPPER).findOne();
    }

    /** Whether {@code node} still holds the device's lease of {@code epoch} (nobody superseded it). */
    public boolean holds(Handle h, TenantId tenant, DeviceId device, String node, long epoch) {
        return h.createQuery("SELECT COUNT(*) FROM device_leases WHERE tenant_id = :t AND device_id = :d AND node_id = :n AND epoch = :e")
                .bind("t", tenant.value()).bind("d", device.value()).bind("n", node).bind("e", epoch).mapTo(Long.class).one() > 0;
    }

    /**
     * Ends the lease when its session ends, unless another session superseded it; the epoch stays counted (the row
     * keeps it, with no node), so the device's next lease is still above every earlier one.
     */
    public boolean release(Handle h, TenantId tenant, DeviceId device, String node, long epoch) {
        return h.createUpdate("UPDATE device_leases SET node_id = '', session_id = '' WHERE tenant_id = :t AND device_id = :d "
                        + "AND node_id = :n AND epoch = :e")
                .bind("t", tenant.value()).bind("d", device.value()).bind("n", node).bind("e", epoch).execute() > 0;
    }

    /** Ends every lease of {@code node} (it starts again: the sessions of its previous run are gone). */
    public int releaseNode(Handle h, String node) {
        return h.createUpdate("UPDATE device_leases SET node_id = '', session_id = '' WHERE node_id = :n")
                .bind("n", node).execute();
    }

    /** The leases {@code node} holds. */
    public long held(Handle h, String node) {
        return h.createQuery("SELECT COUNT(*) FROM device_leases WHERE node_id = :n").bind("n", node).mapTo(Long.class).one();
    }

    /** A lease a node believes it holds: the device's, of {@code epoch}. */
    public record Claim(TenantId tenant, DeviceId device, long epoch) {
    }

    /** A claim the database does not back: the device's lease now ({@code current} empty when the device has none). */
    public record Lost(Claim claim, Optional<Lease> current) {
    }

    /** The most claims one {@link #lost} query checks; a longer list takes one query per this many claims. */
    public static final int CLAIMS_PER_QUERY = 1000;

    /**
     * Of the leases {@code node} believes it holds, those it no longer holds (superseded by a later session, or
     * released), each with the device's lease now; one query per {@link #CLAIMS_PER_QUERY} claims.
     */
    public List<Lost> lost(Handle h, String node, List<Claim> claims) {
        List<Lost> lost = new ArrayList<>();
        for (int from = 0; from < claims.size(); from += CLAIMS_PER_QUERY) {
            List<Claim> batch = claims.subList(from, Math.min(claims.size(), from + CLAIMS_PER_QUERY));
            List<Integer> index = new ArrayList<>(batch.size());
            List<String> tenants = new ArrayList<>(batch.size());
            List<String> devices = new ArrayList<>(batch.size());
            List<Long> epochs = new ArrayList<>(batch.size());
            for (int i = 0; i < batch.size(); i++) {
                Claim c = batch.get(i);
                index.add(i);
                tenants.add(c.tenant().value());
                devices.add(c.device().value());
                epochs.add(c.epoch());
            }
            // the claims as arrays, one per column: one statement text whatever the number of claims
            var q = h.createQuery("SELECT k.i, l.node_id, l.epoch, l.session_id, l.source, l.since_ms "
                            + "FROM UNNEST(CAST(:i AS INT ARRAY), CAST(:t AS VARCHAR(32) ARRAY), CAST(:d AS VARCHAR(64) ARRAY), "
                            + "CAST(:e AS BIGINT ARRAY)) AS k (i, t, d, e) "
                            + "LEFT JOIN device_leases l ON l.tenant_id = k.t AND l.device_id = k.d "
                            + "WHERE l.node_id IS NULL OR l.node_id <> :n OR l.epoch <> k.e")
                    .bindArray("i", Integer.class, index).bindArray("t", String.class, tenants).bindArray("d", String.class, devices)
                    .bindArray("e", Long.class, epochs).bind("n", node);
            q.map((rs, ctx) -> {
                Claim c = batch.get(rs.getInt("i"));
                String holder = rs.getString("node_id");
                Optional<Lease> current = holder == null ? Optional.empty() : Optional.of(new Lease(c.tenant(), c.device(), holder,
                        rs.getLong("epoch"), rs.getString("session_id"), rs.getString("source"), rs.getLong("since_ms")));
                return new Lost(c, current);
            }).forEach(lost::add);
        }
        return lost;
    }
}
