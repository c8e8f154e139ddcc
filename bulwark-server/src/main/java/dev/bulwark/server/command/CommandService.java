package dev.bulwark.server.command;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ObjectNode;
import dev.bulwark.protocol.DeviceId;
import dev.bulwark.protocol.TenantId;
import dev.bulwark.protocol.Topics;
import dev.bulwark.server.Clock;
import dev.bulwark.server.device.DeviceLink;
import dev.bulwark.server.http.Views;
import dev.bulwark.server.store.Database;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.util.List;
import java.util.Optional;
import org.jdbi.v3.core.Handle;
import org.jdbi.v3.core.mapper.RowMapper;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Commands to devices: {@code queued} until the device is connected and subscribed to its
 * {@code commands} topic, {@code delivered} once the device acknowledged the message, then
 * {@code succeeded} or {@code failed} from the device's result, or {@code expired} when its time-to-live
 * passes first. Payload to the device: {@code {"id","name","params","expiresAt"}}; the device answers on
 * {@code commands/{id}/result} with {@code {"status":"succeeded"|"failed","result":...}}.
 */
public final class CommandService {
    private static final Logger LOG = LoggerFactory.getLogger(CommandService.class);
    private static final ObjectMapper JSON = new ObjectMapper();

    /** A stored command. */
    public record Command(String tenantId, String id, String deviceId, String name, JsonNode params, String state,
                          long createdMs, long expiresMs, Long deliveredMs, Long completedMs, JsonNode result, String createdBy) {
    }

    private final RowMapper<Command> MAPPER = (rs, ctx) -> {
        long d = rs.getLong("delivered_ms");
        Long delivered = rs.wasNull() ? null : d;
        long c = rs.getLong("completed_ms");
        Long completed = rs.wasNull() ? null : c;
        return new Command(rs.getString("tenant_id"), rs.getString("id"), rs.getString("device_id"), rs.getString("name"),
                parse(rs.getString("params")), rs.getString("state"), rs.getLong("created_ms"), rs.getLong("expires_ms"),
                delivered, completed, parse(openResult(rs.getString("tenant_id"), rs.getString("device_id"), rs.getString("result"))),
                rs.getString("created_by"));
    };

    private volatile dev.bulwark.server.lifecycle.Ownership ownership;

    /** Seals command results under the device's ownership-period key from now on. */
    public void attach(dev.bulwark.server.lifecycle.Ownership ownership) {
        this.ownership = ownership;
    }

    private String openResult(String tenant, String device, String stored) {
        dev.bulwark.server.lifecycle.Ownership o = ownership;
        return o == null ? stored : o.openText(tenant, device, "command-result", stored);
    }

    private final Database db;
    private final Clock clock;
    private volatile DeviceLink link = DeviceLink.NONE;
    /** Database work triggered from event loops (acknowledgements), kept off them. */
    private final java.util.concurrent.ExecutorService background = java.util.concurrent.Executors.newSingleThreadExecutor(r -> {
        Thread t = new Thread(r, "bulwark-commands");
        t.setDaemon(true);
        return t;
    });

    public CommandService(Database db, Clock clock) {
        this.db = db;
        this.clock = clock;
    }

    public void attach(DeviceLink link) {
        this.link = link;
    }

    public void insert(Handle h, Command c) {
        h.createUpdate("INSERT INTO commands (tenant_id, id, device_id, name, params, state, created_ms, expires_ms, created_by) "
                        + "VALUES (:t, :id, :d, :name, :params, 'queued', :created, :expires, :by)")
                .bind("t", c.tenantId()).bind("id", c.id()).bind("d", c.deviceId()).bind("name", c.name())
                .bind("params", c.params().toString()).bind("created", c.createdMs()).bind("expires", c.expiresMs())
                .bind("by", c.createdBy()).execute();
    }

    public Optional<Command> find(Handle h, TenantId tenant, DeviceId device, String id) {
        return h.createQuery("SELECT * FROM commands WHERE tenant_id = :t AND device_id = :d AND id = :id")
                .bind("t", tenant.value()).bind("d", device.value()).bind("id", id).map(MAPPER).findOne();
    }

    public List<Command> list(Handle h, TenantId tenant, DeviceId device, int limit) {
        return h.createQuery("SELECT * FROM commands WHERE tenant_id = :t AND device_id = :d ORDER BY created_ms DESC, id DESC LIMIT :limit")
                .bind("t", tenant.value()).bind("d", device.value()).bind("limit", limit).map(MAPPER).list();
    }

    /** Sends every queued, unexpired command of the device (blocking read; call off the event loop). */
    public void deliverQueued(TenantId tenant, DeviceId device) {
        long now = clock.nowMs();
        List<Command> queued = db.read(h -> h.createQuery("SELECT * FROM commands WHERE tenant_id = :t AND device_id = :d "
                        + "AND state = 'queued' AND expires_ms > :now ORDER BY created_ms, id")
                .bind("t", tenant.value()).bind("d", device.value()).bind("now", now).map(MAPPER).list());
        for (Command c : queued) {
            deliver(c);
        }
    }

    /** Sends one command if the device is listening; it becomes {@code delivered} when the device acknowledges. */
    public boolean deliver(Command c) {
        ObjectNode msg = JSON.createObjectNode();
        msg.put("id", c.id());
        msg.put("name", c.name());
        msg.set("params", c.params());
        msg.put("expiresAt", Views.time(c.expiresMs()));
        TenantId tenant = TenantId.of(c.tenantId());
        DeviceId device = DeviceId.of(c.deviceId());
        return link.send(tenant, device, Topics.commands(device), msg.toString().getBytes(StandardCharsets.UTF_8),
                () -> background.execute(() -> markDelivered(tenant, device, c.id())));
    }

    private void markDelivered(TenantId tenant, DeviceId device, String id) {
        try {
            db.tx(h -> h.createUpdate("UPDATE commands SET state = 'delivered', delivered_ms = :now "
                            + "WHERE tenant_id = :t AND device_id = :d AND id = :id AND state = 'queued'")
                    .bind("now", clock.nowMs()).bind("t", tenant.value()).bind("d", device.value()).bind("id", id).execute());
        } catch (RuntimeException e) {
            LOG.warn("cannot mark command {} delivered: {}", id, e.toString());
        }
    }

    /**
     * Records the device's result (blocking). Returns false when there is no such open command of this
     * device (unknown, another device's, already completed or expired).
     */
    public boolean complete(TenantId tenant, DeviceId device, String id, boolean succeeded, JsonNode result) {
        long now = clock.nowMs();
        dev.bulwark.server.lifecycle.Ownership o = ownership;
        try {
            return db.tx(h -> h.createUpdate("UPDATE commands SET state = :state, completed_ms = :now, result = :result "
                            + "WHERE tenant_id = :t AND device_id = :d AND id = :id AND state IN ('queued', 'delivered') AND expires_ms > :now")
                    .bind("state", succeeded ? "succeeded" : "failed").bind("now", now)
                    .bind("result", result == null ? null : o == null ? result.toString()
                            : o.sealText(h, tenant.value(), device.value(), "command-result", result.toString(), now))
                    .bind("t", tenant.value()).bind("d", device.value()).bind("id", id).execute() == 1);
        } catch (RuntimeException e) {
            if (o != null) {
                o.forget(tenant.value(), device.value());
            }
            throw e;
        }
    }

    /** Marks commands whose time-to-live passed as expired; returns how many. */
    public int expire() {
        return db.tx(h -> h.createUpdate("UPDATE commands SET state = 'expired', completed_ms = :now "
                        + "WHERE state IN ('queued', 'delivered') AND expires_ms <= :now")
                .bind("now", clock.nowMs()).execute());
    }

    public void close() {
        background.shutdown();
    }

    static JsonNode parse(String s) {
        try {
            return s == null ? null : JSON.readTree(s);
        } catch (IOException e) {
            return null;
        }
    }
}
