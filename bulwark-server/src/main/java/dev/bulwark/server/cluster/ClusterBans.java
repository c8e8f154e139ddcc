package dev.bulwark.server.cluster;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import dev.bulwark.server.config.DetectionSettings;
import dev.bulwark.server.core.Clock;
import dev.bulwark.server.crypto.Secrets;
import dev.bulwark.server.monitor.InProcessBans;
import dev.bulwark.server.monitor.SourceGuard;
import java.util.ArrayList;
import java.util.HashSet;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.Set;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.Executors;
import java.util.concurrent.ScheduledExecutorService;
import java.util.concurrent.TimeUnit;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Source bans shared by the nodes of a cluster: a ban issued (or widened) on one node is published to the
 * compacted {@code bans} topic under its id, and every node enforces it from the moment the record comes back
 * from Kafka (milliseconds; the issuing node at once); a lift is published there too (a {@code ban-lifted} record,
 * then a tombstone), and so is the end of an expired ban (a tombstone). A node that starts replays the topic: it
 * enforces the bans active then. Each node keeps what it enforces in an {@link InProcessBans}, where a ban from
 * elsewhere also counts in the source's strikes, so the doubling of ban durations counts across the cluster.
 *
 * <p>One attack, one ban: the id of a ban is derived from the alert that caused it, the source and its strike, so
 * two nodes banning a source for one alert at the same moment (before either has heard of the other's) issue the
 * same ban; a ban heard of for a source already banned under another id is merged with it (both scopes, the later
 * end), in the topic's order on every node.
 *
 * <p>What stays per node: the tarpit (the delays of one source's refusals queue on the node it reaches; a source
 * spreading its guesses over n nodes waits about 1/n as long, bounded by each node's own backlog) and the
 * known-good credentials (a credential that succeeded from an address before it was banned is exempt on the
 * nodes where it succeeded).
 */
public final class ClusterBans implements SourceGuard, AutoCloseable {
    private static final Logger LOG = LoggerFactory.getLogger(ClusterBans.class);
    static final String BAN = "ban";
    static final String LIFTED = "ban-lifted";
    private static final int MAX_LIFTED = 10_000;

    private final InProcessBans local;
    private final ClusterBus bus;
    private final Clock clock;
    /** The bans on the topic as this node heard them (id → end), to tombstone once ended. */
    private final Map<String, Long> onTopic = new ConcurrentHashMap<>();
    /** Ids lifted: a late record of a lifted ban (a widening crossing the lift) does not bring it back. */
    private final Set<String> lifted = java.util.Collections.newSetFromMap(java.util.Collections.synchronizedMap(
            new LinkedHashMap<String, Boolean>(256, 0.75f, false) {
                @Override
                protected boolean removeEldestEntry(Map.Entry<String, Boolean> eldest) {
                    return size() > MAX_LIFTED;
                }
            }));
    private final ScheduledExecutorService sweeper = Executors.newSingleThreadScheduledExecutor(r -> {
        Thread t = new Thread(r, "bulwark-cluster-bans");
        t.setDaemon(true);
        return t;
    });

    private final long maxBanMs;

    public ClusterBans(ClusterNode cluster, DetectionSettings settings) {
        this.clock = cluster.clock();
        this.local = new InProcessBans(clock, settings);
        this.maxBanMs = settings.banMax().toMillis();
        this.bus = cluster.bus();
        bus.listen(ClusterNode.BANS, 1, ClusterNode.COMPACTED, true);
        bus.on(ClusterNode.BANS, BAN, this::heard);
        bus.on(ClusterNode.BANS, LIFTED, e -> {
            String id = e.body().path("id").asText("");
            lifted.add(id);
            onTopic.remove(id);
            local.lift(id);
        });
        bus.whenStarted(() -> sweeper.scheduleWithFixedDelay(this::sweep, 10, 10, TimeUnit.SECONDS));
    }

    @Override
    public Ban ban(String address, String label, String reason, String tenantId, String alertId) {
        String source = SourceGuard.sourceKey(address);
        Optional<Ban> before = local.banned(source);
        Ban b = local.ban(source, label, reason, tenantId, alertId, strike -> alertId == null ? "ban-" + Secrets.randomHex(8)
                : "ban-" + Secrets.sha256Hex(alertId + "|" + source + "|" + strike).substring(0, 16));
        if (before.isEmpty() || !before.get().equals(b)) {
            publish(b); // new, or widened to another scope
        }
        return b;
    }

    @Override
    public Optional<Ban> lift(String id) {
        Optional<Ban> b = local.lift(id);
        if (b.isPresent()) {
            lifted.add(id);
            bus.publish(ClusterNode.BANS, id, LIFTED, ClusterBus.body().put("id", id).put("address", b.get().address()))
                    .thenCompose(ok -> bus.delete(ClusterNode.BANS, id))
                    .exceptionally(err -> {
                        LOG.warn("the lift of ban {} could not be published to the other nodes: {}", id, err.toString());
                        return null;
                    });
        }
        return b;
    }

    private void publish(Ban b) {
        ObjectNode body = ClusterBus.body();
        body.put("id", b.id()).put("address", b.address()).put("since", b.sinceMs()).put("until", b.untilMs()).put("label", b.label())
                .put("reason", b.reason()).put("alert", b.alertId()).put("strike", b.strike());
        ArrayNode scopes = body.putArray("scopes");
        b.scopes().forEach(scopes::add);
        bus.publish(ClusterNode.BANS, b.id(), BAN, body).exceptionally(err -> {
            LOG.warn("ban {} of {} could not be published to the other nodes: {}", b.id(), b.address(), err.toString());
            return null;
        });
    }

    private void heard(ClusterBus.Envelope e) {
        Ban b = parse(e.body(), maxBanMs);
        if (b == null) {
            LOG.warn("ignored a malformed ban record on the cluster's bans topic");
            return;
        }
        if (!b.id().equals(e.key()) || lifted.contains(b.id())) {
            return;
        }
        onTopic.put(b.id(), b.untilMs());
        Optional<Ban> now = local.apply(b);
        if (now.isPresent() && !bus.own(e)) {
            LOG.debug("enforcing ban {} of {} issued by node {}", b.id(), b.address(), e.node());
        }
    }

    /** {@link #parse(JsonNode, long)} with no bound on a ban's length (tests of the record format). */
    static Ban parse(JsonNode n) {
        return parse(n, 0);
    }

    /** A ban record as published, or null when it is malformed; {@code maxMs} (when positive) bounds its length. */
    static Ban parse(JsonNode n, long maxMs) {
        String id = n.path("id").asText("");
        String address = n.path("address").asText("");
        long since = n.path("since").asLong(0);
        long until = n.path("until").asLong(0);
        int strike = n.path("strike").asInt(0);
        if (!id.matches("ban-[0-9a-f]{16}") || address.isEmpty() || address.length() > 64 || until <= since || strike < 1
                || !n.path("scopes").isArray() || n.path("scopes").isEmpty() || n.path("scopes").size() > 1_000) {
            return null;
        }
        Set<String> scopes = new HashSet<>();
        for (JsonNode s : n.path("scopes")) {
            if (!s.isTextual() || s.asText().length() > 100) {
                return null;
            }
            scopes.add(s.asText());
        }
        String alert = n.path("alert").isTextual() ? n.path("alert").asText() : null;
        if (maxMs > 0 && until - since > maxMs) {
            until = since + maxMs; // no ban lasts longer than this cluster's longest ban, whatever a record says
        }
        return new Ban(id, address, since, until, clip(n.path("label").asText("")), clip(n.path("reason").asText("")), scopes, alert, strike);
    }

    private static String clip(String s) {
        return s.length() > 500 ? s.substring(0, 500) : s;
    }

    /** Tombstones the bans on the topic that have ended (every node does; a tombstone more is harmless). */
    private void sweep() {
        long now = clock.nowMs();
        List<String> ended = new ArrayList<>();
        onTopic.forEach((id, until) -> {
            if (until <= now) {
                ended.add(id);
            }
        });
        for (String id : ended) {
            onTopic.remove(id);
            bus.delete(ClusterNode.BANS, id);
        }
    }

    // ---- the rest is this node's ----

    @Override
    public long backlogMs() {
        return local.backlogMs();
    }

    @Override
    public Optional<Ban> banned(String address) {
        return local.banned(address);
    }

    @Override
    public Optional<Ban> refuse(String address, String credential) {
        return local.refuse(address, credential);
    }

    @Override
    public void succeeded(String address, String credential) {
        local.succeeded(address, credential);
    }

    @Override
    public long failed(String address) {
        return local.failed(address);
    }

    @Override
    public List<Ban> active() {
        return local.active();
    }

    @Override
    public long bansIssued() {
        return local.bansIssued();
    }

    @Override
    public long refusedWhileBanned() {
        return local.refusedWhileBanned();
    }

    @Override
    public void close() {
        sweeper.shutdownNow();
    }
}
