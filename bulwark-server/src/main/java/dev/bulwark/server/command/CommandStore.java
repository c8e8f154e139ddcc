package dev.bulwark.server.command;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import dev.bulwark.protocol.DeviceId;
import dev.bulwark.protocol.TenantId;
import java.io.IOException;
import java.util.List;
import java.util.Optional;
import org.jdbi.v3.core.Handle;
import org.jdbi.v3.core.mapper.RowMapper;

/**
 * The {@code commands} table. Every statement is keyed by tenant; states are stored by
 * {@link CommandState#wireName()}. A device's result is stored as the caller gives it (sealed text), and
 * handed back the same way in {@link Row#storedResult()}.
 */
public final class CommandStore {
    private static final ObjectMapper JSON = new ObjectMapper();

    /** A stored command, its result not opened yet ({@link Command#result()} is null). */
    public record Row(Command command, String storedResult) {
    }

    private static final RowMapper<Row> MAPPER = (rs, ctx) -> {
        long d = rs.getLong("delivered_ms");
        Long delivered = rs.wasNull() ? null : d;
        long c = rs.getLong("completed_ms");
        Long completed = rs.wasNull() ? null : c;
        return new Row(new Command(TenantId.of(rs.getString("tenant_id")), rs.getString("id"), DeviceId.of(rs.getString("device_id")),
                rs.getString("name"), parse(rs.getString("params")), CommandState.fromWire(rs.getString("state")), rs.getLong("created_ms"),
                rs.getLong("expires_ms"), delivered, completed, null, rs.getString("created_by")), rs.getString("result"));
    };

    /** Stores a new command in its state (normally {@link CommandState#QUEUED}). */
    public void insert(Handle h, Command c) {
        h.createUpdate("INSERT INTO commands (tenant_id, id, device_id, name, params, state, created_ms, expires_ms, created_by) "
                        + "VALUES (:t, :id, :d, :name, :params, :state, :created, :expires, :by)")
                .bind("t", c.tenant().value()).bind("id", c.id()).bind("d", c.device().value()).bind("name", c.name())
                .bind("params", c.params().toString()).bind("state", c.state().wireName()).bind("created", c.createdMs())
                .bind("expires", c.expiresMs()).bind("by", c.createdBy()).execute();
    }

    public Optional<Row> find(Handle h, TenantId tenant, DeviceId device, String id) {
        return h.createQuery("SELECT * FROM commands WHERE tenant_id = :t AND device_id = :d AND id = :id")
                .bind("t", tenant.value()).bind("d", device.value()).bind("id", id).map(MAPPER).findOne();
    }

    /** The device's commands, newest first. */
    public List<Row> list(Handle h, TenantId tenant, DeviceId device, int limit) {
        return h.createQuery("SELECT * FROM commands WHERE tenant_id = :t AND device_id = :d ORDER BY created_ms DESC, id DESC LIMIT :limit")
                .bind("t", tenant.value()).bind("d", device.value()).bind("limit", limit).map(MAPPER).list();
    }

    /** The device's queued commands whose time-to-live has not passed, oldest first. */
    public List<Row> queued(Handle h, TenantId tenant, DeviceId device, long nowMs) {
        return h.createQuery("SELECT * FROM commands WHERE tenant_id = :t AND device_id = :d AND state = :queued AND expires_ms > :now "
                        + "ORDER BY created_ms, id")
                .bind("t", tenant.value()).bind("d", device.value()).bind("queued", CommandState.QUEUED.wireName()).bind("now", nowMs)
                .map(MAPPER).list();
    }

    /** queued → delivered; false when the command is not queued (any more). */
    public boolean markDelivered(Handle h, TenantId tenant, DeviceId device, String id, long nowMs) {
        return h.createUpdate("UPDATE commands SET state = :delivered, delivered_ms = :now "
                        + "WHERE tenant_id = :t AND device_id = :d AND id = :id AND state = :queued")
                .bind("delivered", CommandState.DELIVERED.wireName()).bind("queued", CommandState.QUEUED.wireName())
                .bind("now", nowMs).bind("t", tenant.value()).bind("d", device.value()).bind("id", id).execute() == 1;
    }

    /**
     * queued | delivered → {@code outcome} (succeeded or failed) with the device's result, unless the
     * time-to-live passed; false when there is no such open command of this device. A result proves delivery: a
     * command whose result arrives before its acknowledgement was counted is delivered at the result's time.
     */
    public boolean complete(Handle h, TenantId tenant, DeviceId device, String id, CommandState outcome, String storedResult, long nowMs) {
        if (outcome != CommandState.SUCCEEDED && outcome != CommandState.FAILED) {
            throw new IllegalArgumentException("a command completes as succeeded or failed, not " + outcome);
        }
        return h.createUpdate("UPDATE commands SET state = :state, completed_ms = :now, result = :result, "
                        + "delivered_ms = COALESCE(delivered_ms, :now) "
                        + "WHERE tenant_id = :t AND device_id = :d AND id = :id AND state IN (:queued, :delivered) AND expires_ms > :now")
                .bind("state", outcome.wireName()).bind("now", nowMs).bind("result", storedResult)
                .bind("queued", CommandState.QUEUED.wireName()).bind("delivered", CommandState.DELIVERED.wireName())
                .bind("t", tenant.value()).bind("d", device.value()).bind("id", id).execute() == 1;
    }

    /** Open commands of the tenant whose time-to-live passed → expired; returns how many. */
    public int expire(Handle h, TenantId tenant, long nowMs) {
        return h.createUpdate("UPDATE commands SET state = :expired, completed_ms = :now "
                        + "WHERE tenant_id = :t AND state IN (:queued, :delivered) AND expires_ms <= :now")
                .bind("expired", CommandState.EXPIRED.wireName()).bind("queued", CommandState.QUEUED.wireName())
                .bind("delivered", CommandState.DELIVERED.wireName()).bind("t", tenant.value()).bind("now", nowMs).execute();
    }

    static JsonNode parse(String s) {
        try {
            return s == null ? null : JSON.readTree(s);
        } catch (IOException e) {
            return null;
        }
    }
}
