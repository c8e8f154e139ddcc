package dev.bulwark.server.cluster;

import dev.bulwark.server.crypto.DataKeys;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Crypto-shredding on every node: a data key destroyed on one node (its file in the shared data directory
 * overwritten and deleted) is dropped from the memory of every other node at once, so no node goes on opening
 * data sealed under it from a cached copy.
 */
public final class ClusterKeys {
    private static final Logger LOG = LoggerFactory.getLogger(ClusterKeys.class);
    static final String DESTROYED = "key-destroyed";

    private ClusterKeys() {
    }

    public static void join(ClusterNode cluster, DataKeys keys) {
        ClusterBus bus = cluster.bus();
        keys.onDestroyed(id -> bus.publish(ClusterNode.CONTROL, id, DESTROYED, ClusterBus.body().put("key", id)));
        bus.on(ClusterNode.CONTROL, DESTROYED, e -> {
            if (!bus.own(e)) {
                keys.forget(e.body().path("key").asText());
                LOG.debug("dropped data key {} destroyed on node {}", e.body().path("key").asText(), e.node());
            }
        });
    }
}
