package dev.bulwark.server.command;

import com.fasterxml.jackson.databind.JsonNode;
import dev.bulwark.protocol.DeviceId;
import dev.bulwark.protocol.TenantId;
import dev.bulwark.server.core.Clock;
import dev.bulwark.server.identity.TenantStore;
import dev.bulwark.server.ownership.Ownership;
import dev.bulwark.server.store.Database;
import java.util.List;
import java.util.Objects;
import java.util.Optional;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import org.jdbi.v3.core.Handle;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Commands to devices: {@code queued} until the device is connected and subscribed to its
 * {@code commands} topic, {@code delivered} once the device acknowledged the message, then
 * {@code succeeded} or {@code failed} from the device's result, or {@code expired} when its time-to-live
 * passes first ({@link CommandState}): a command that could not be delivered, or that the device did not answer,
 * ends with that explicit state, never waits forever. The device answers on {@code commands/{id}/result} with
 * {@code {"status":"succeeded"|"failed","result":...}}; results are sealed under the device's
 * ownership-period key ({@link Ownership}), so a service is never built without it.
 *
 * <p>Delivery goes through the {@link CommandDelivery} given at construction (in process:
 * {@link LocalCommandDelivery} on the node's device link, bound to the MQTT listener once it exists).
 */
public final class CommandService {
    private static final Logger LOG = LoggerFactory.getLogger(CommandService.class);
    private static final String KIND = "command-result";

    private final Database db;
    private final Clock clock;
    private final CommandStore store;
    private final TenantStore tenants;
    private final Ownership ownership;
    private final CommandDelivery delivery;
    /** Database work triggered from event loops (acknowledgements), kept off them. */
    private final ExecutorService background = Executors.newSingleThreadExecutor(r -> {
        Thread t = new Thread(r, "bulwark-commands");
        t.setDaemon(true);
        return t;
    });

    public CommandService(Database db, Clock clock, CommandStore store, TenantStore tenants, Ownership ownership, CommandDelivery delivery) {
        this.db = Objects.requireNonNull(db, "db");
        this.clock = Objects.requireNonNull(clock, "clock");
        this.store = Objects.requireNonNull(store, "store");
        this.tenants = Objects.requireNonNull(tenants, "tenants");
        this.ownership = Objects.requireNonNull(ownership, "ownership: command results are sealed");
        this.delivery = Objects.requireNonNull(delivery, "delivery");
    }

    /** Stores a new command in the caller's transaction. */
    public void insert(Handle h, Command c) {
        store.insert(h, c);
    }

    public Optional<Command> find(Handle h, TenantId tenant, DeviceId device, String id) {
        return store.find(h, tenant, device, id).map(this::opened);
    }

    public List<Command> list(Handle h, TenantId tenant, DeviceId device, int limit) {
        return store.list(h, tenant, device, limit).stream().map(this::opened).toList();
    }

    private Command opened(CommandStore.Row r) {
        Command c = r.command();
        return new Command(c.tenant(), c.id(), c.device(), c.name(), c.params(), c.state(), c.createdMs(), c.expiresMs(), c.deliveredMs(),
                c.completedMs(), CommandStore.parse(ownership.openText(c.tenant(), c.device(), KIND, r.storedResult())), c.createdBy());
    }

    /** Sends every queued, unexpired command of the device (blocking read; call off the event loop). */
    public void deliverQueued(TenantId tenant, DeviceId device) {
        long now = clock.nowMs();
        for (CommandStore.Row r : db.read(h -> store.queued(h, tenant, device, now))) {
            deliver(r.command());
        }
    }

    /** Sends one command if the device is listening; it becomes {@code delivered} when the device acknowledges. */
    public boolean deliver(Command c) {
        return deliver(c, delivery);
    }

    /**
     * Sends one command through {@code via} (a cluster node sending, on its own session, a command routed to it);
     * it becomes {@code delivered} when the device acknowledges, marked by this node's service.
     */
    public boolean deliver(Command c, CommandDelivery via) {
        return via.send(c, () -> background.execute(() -> markDelivered(c.tenant(), c.device(), c.id())));
    }

    private void markDelivered(TenantId tenant, DeviceId device, String id) {
        try {
            db.tx(h -> store.markDelivered(h, tenant, device, id, clock.nowMs()));
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
        try {
            return db.tx(h -> store.complete(h, tenant, device, id, succeeded ? CommandState.SUCCEEDED : CommandState.FAILED,
                    result == null ? null : ownership.sealText(h, tenant, device, KIND, result.toString(), now), now));
        } catch (RuntimeException e) {
            ownership.forget(tenant, device); // a period opened in the rolled-back transaction is not cached
            throw e;
        }
    }

    /**
     * Marks commands whose time-to-live passed as expired, tenant by tenant, each tenant in its own short transaction;
     * returns how many this call expired. Every node of a cluster runs it: the update only takes commands still open
     * (re-checked under the row lock), so a command expires once, on one node, and never after its result arrived.
     */
    public int expire() {
        long now = clock.nowMs();
        int n = 0;
        for (TenantStore.Tenant t : db.read(h -> tenants.list(h, "", Integer.MAX_VALUE))) {
            n += db.tx(h -> store.expire(h, TenantId.of(t.id()), now));
        }
        return n;
    }

    public void close() {
        background.shutdown();
    }
}
