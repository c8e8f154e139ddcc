package dev.bulwark.server.monitor;

import java.util.ArrayList;
import java.util.Iterator;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.function.Function;
import java.util.function.ToLongFunction;

/**
 * A map of per-source (or per-identity) tracking state with a size bound and an expiry, for state that an
 * outsider can make grow (one entry per source address, per claimed identity).
 *
 * <p>Entries are kept in access order. Each access first drops the least recently used entries whose last
 * use ({@code lastUsed}) is older than {@code ttlMs} (it stops at the first fresh one, so this is amortized
 * constant time: no scan of the whole map), and an insertion beyond {@code maxEntries} evicts the least
 * recently used entry. An attacker spraying addresses (IPv6) therefore evicts its own oldest state and
 * cannot grow the map past its bound. Thread-safe (one lock).
 */
final class BoundedMap<K, V> {
    private final int maxEntries;
    private final long ttlMs;
    private final ToLongFunction<V> lastUsed;
    private final LinkedHashMap<K, V> map;

    BoundedMap(int maxEntries, long ttlMs, ToLongFunction<V> lastUsed) {
        this.maxEntries = maxEntries;
        this.ttlMs = ttlMs;
        this.lastUsed = lastUsed;
        this.map = new LinkedHashMap<>(Math.min(maxEntries, 1024), 0.75f, true) {
            @Override
            protected boolean removeEldestEntry(Map.Entry<K, V> eldest) {
                return size() > BoundedMap.this.maxEntries;
            }
        };
    }

    /** The entry for {@code key}, created by {@code create} when absent (or expired). */
    synchronized V computeIfAbsent(K key, Function<K, V> create, long nowMs) {
        expire(nowMs);
        return map.computeIfAbsent(key, create);
    }

    /** The entry for {@code key}, or null; touches it. */
    synchronized V get(K key, long nowMs) {
        expire(nowMs);
        return map.get(key);
    }

    synchronized V put(K key, V value, long nowMs) {
        expire(nowMs);
        return map.put(key, value);
    }

    synchronized V remove(K key) {
        return map.remove(key);
    }

    synchronized boolean remove(K key, V value) {
        return map.remove(key, value);
    }

    synchronized int size() {
        return map.size();
    }

    /** A snapshot of the values (for listing; never on a per-failure path). */
    synchronized List<V> values(long nowMs) {
        expire(nowMs);
        return new ArrayList<>(map.values());
    }

    private void expire(long nowMs) {
        Iterator<V> it = map.values().iterator();
        while (it.hasNext()) {
            if (lastUsed.applyAsLong(it.next()) < nowMs - ttlMs) {
                it.remove();
            } else {
                return;
            }
        }
    }
}
