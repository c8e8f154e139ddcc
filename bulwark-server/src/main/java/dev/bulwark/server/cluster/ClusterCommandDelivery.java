package dev.bulwark.server.cluster;

import dev.bulwark.server.command.Command;
import dev.bulwark.server.command.CommandDelivery;
import dev.bulwark.server.command.CommandState;
import dev.bulwark.server.command.CommandStore;
import java.util.Objects;
import java.util.Optional;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Commands reach their device on whichever node holds its session, by the device's lease ({@link DeviceRoutes}):
 * sent on the local session when the lease is this node's, else routed as a {@value #DELIVER} record
 * {@code {"tenant", "device", "command", "epoch"}} to the inbox of the node holding the lease, which sends it only
 * while its session still holds the lease of that epoch. A command no node can send now stays queued: the device
 * gets it when it next subscribes (on any node), or it ends {@code expired} ({@link CommandService#expire}).
 *
 * <p>The command becomes {@code delivered} on the node that sent it, when the device acknowledges it there: the
 * receiving node delivers through its own {@link CommandService} ({@link CommandService#deliver(Command, CommandDelivery)}).
 * A device may still receive a command twice (an acknowledgement lost with its connection, a recheck racing a
 * subscription); the device SDK executes each command id at most once.
 *
 * <p>Why a command is not stranded while its device is connected: it is committed before it is routed, and the node
 * holding the session reads the device's queued commands when the device subscribes, after its session took the
 * lease. Either the route read that lease and reached that node, which sends it, or finds the device not subscribed
 * yet, in which case the subscription's read, later, sees the command; or the route read no lease (or an older one)
 * before the lease was committed, and the subscription's read, later still, sees the command. That holds when a
 * session's lease is committed before its device's SUBSCRIBE is handled. {@link ClusterSessions} takes the lease on a
 * worker thread, so the SUBSCRIBE may come first: the rechecks ({@link DeviceRoutes#RECHECKS_MS}, the first a quarter
 * of a second later) route again once the lease is visible, and cover an inbox record lost with Kafka too.
 */
public final class ClusterCommandDelivery implements CommandDelivery, AutoCloseable {
    private static final Logger LOG = LoggerFactory.getLogger(ClusterCommandDelivery.class);
    /** The inbox record asking the node holding the lease to send a queued command. */
    public static final String DELIVER = "deliver-command";

    private final DeviceRoutes routes;
    private final CommandDelivery local;
    private final CommandStore store;

    /**
     * {@code local} sends on this node's sessions (a {@code LocalCommandDelivery}); {@code store} is where this node
     * reads a routed command and marks it delivered once its device acknowledged it here.
     */
    public ClusterCommandDelivery(ClusterNode cluster, LocalLeases leases, CommandDelivery local, CommandStore store) {
        this.routes = new DeviceRoutes(cluster, Objects.requireNonNull(leases, "leases"), "command-routes");
        this.local = Objects.requireNonNull(local, "local");
        this.store = Objects.requireNonNull(store, "store");
        routes.onInbox(DELIVER, this::received);
    }

    @Override
    public boolean send(Command c, Runnable onDelivered) {
        return route(c, onDelivered, 0);
    }

    private boolean route(Command c, Runnable onDelivered, int attempt) {
        Optional<LeaseStore.Lease> lease = routes.lease(c.tenant(), c.device());
        boolean sentHere = false;
        boolean sent;
        if (lease.isEmpty()) {
            sent = false; // no session anywhere: queued until the device subscribes
        } else if (routes.here(lease.get())) {
            sent = sentHere = sendHere(c, lease.get().epoch(), onDelivered);
        } else {
            routes.forward(lease.get(), DELIVER, ClusterBus.body().put("command", c.id()));
            sent = true;
        }
        if (!sentHere) {
            routes.recheck(attempt, () -> again(c, onDelivered, attempt + 1));
        }
        return sent;
    }

    /** A recheck: routes the command again if it is still queued. */
    private void again(Command c, Runnable onDelivered, int attempt) {
        queued(c).ifPresent(fresh -> route(fresh, onDelivered, attempt));
    }

    private Optional<Command> queued(Command c) {
        return queued(c.tenant(), c.device(), c.id());
    }

    /** The command as stored, if it is still queued and unexpired (its result, never set while queued, unopened). */
    private Optional<Command> queued(dev.bulwark.protocol.TenantId tenant, dev.bulwark.protocol.DeviceId device, String id) {
        long now = routes.cluster().clock().nowMs();
        return routes.cluster().db().read(h -> store.find(h, tenant, device, id)).map(CommandStore.Row::command)
                .filter(x -> x.state() == CommandState.QUEUED && x.expiresMs() > now);
    }

    /** Sends on this node's session if it holds the lease of {@code epoch} and was not offered the command yet. */
    private boolean sendHere(Command c, long epoch, Runnable onDelivered) {
        if (!routes.sessionHolds(c.tenant(), c.device(), epoch)) {
            LOG.debug("command {} not sent: this node's session of device {} does not hold its lease of epoch {}", c.id(), c.device(), epoch);
            return false;
        }
        String key = c.tenant().value() + "/" + c.device().value() + "/" + c.id();
        DeviceRoutes.Offer claim = routes.claim(key, epoch, 0);
        if (claim == null) {
            return true; // already on its way to this session
        }
        boolean sent = local.send(c, onDelivered);
        if (!sent) {
            routes.unclaim(key, claim);
        }
        return sent;
    }

    /** A {@value #DELIVER} record whose route is valid: sends the command if it is still queued. */
    private void received(DeviceRoutes.Routed r) {
        String id = r.body().path("command").asText("");
        if (id.isEmpty()) {
            return;
        }
        Optional<Command> c = queued(r.tenant(), r.device(), id);
        if (c.isEmpty()) {
            LOG.debug("command {} routed from node {} is not queued any more (delivered, finished or expired)", id, r.from());
            return;
        }
        sendHere(c.get(), r.epoch(), () -> routes.execute(() -> markDelivered(c.get())));
    }

    /** The device acknowledged, on this node, a command routed here: this node records it delivered. */
    private void markDelivered(Command c) {
        try {
            routes.cluster().db().tx(h -> store.markDelivered(h, c.tenant(), c.device(), c.id(), routes.cluster().clock().nowMs()));
        } catch (RuntimeException e) {
            LOG.warn("cannot mark command {} delivered: {}", c.id(), e.toString());
        }
    }

    /** Offers remembered now (tests). */
    int remembered() {
        return routes.remembered();
    }

    @Override
    public void close() {
        routes.close();
    }
}
