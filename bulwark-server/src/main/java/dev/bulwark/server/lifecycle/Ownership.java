package dev.bulwark.server.lifecycle;

import dev.bulwark.server.crypto.DataKeys;
import dev.bulwark.server.crypto.Secrets;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.concurrent.ConcurrentHashMap;
import org.jdbi.v3.core.Handle;

/**
 * Ownership periods: for each device, a sequence of periods (owner or none), each with its own data key.
 * Every payload a device sends is sealed under the key of the period it arrives in; an owner sees the data
 * of their periods only; ending a period (transfer) or deleting an owner destroys nothing else's key.
 */
public final class Ownership {

    /** One period of one device. */
    public record Period(String id, String tenantId, String deviceId, String ownerId, String keyId, long startMs, Long endMs) {
    }

    private final DataKeys keys;
    private final Map<String, Period> current = new ConcurrentHashMap<>();

    public Ownership(DataKeys keys) {
        this.keys = keys;
    }

    public DataKeys keys() {
        return keys;
    }

    /** The device's open period, opened (with no owner) if it has none. */
    public Period current(Handle h, String tenant, String device, long nowMs) {
        String k = tenant + "/" + device;
        Period p = current.get(k);
        if (p != null) {
            return p;
        }
        p = open(h, tenant, device).orElse(null);
        if (p == null) {
            p = insert(h, tenant, device, null, nowMs);
        }
        current.put(k, p);
        return p;
    }

    /** The device's open period if it is known here without a database read, else null. */
    public Period cached(String tenant, String device) {
        return current.get(tenant + "/" + device);
    }

    /** Closes the device's open period and opens one for {@code owner} (null: no owner) with a new key. */
    public Period transfer(Handle h, String tenant, String device, String owner, long nowMs) {
        h.createUpdate("UPDATE ownership_periods SET end_ms = :now WHERE tenant_id = :t AND device_id = :d AND end_ms IS NULL")
                .bind("now", nowMs).bind("t", tenant).bind("d", device).execute();
        Period p = insert(h, tenant, device, owner, nowMs);
        current.put(tenant + "/" + device, p);
        return p;
    }

    /** Forgets cached periods (after a transaction that changed them was rolled back, or a purge). */
    public void forget(String tenant, String device) {
        current.remove(tenant + "/" + device);
    }

    public Optional<Period> open(Handle h, String tenant, String device) {
        return h.createQuery("SELECT * FROM ownership_periods WHERE tenant_id = :t AND device_id = :d AND end_ms IS NULL")
                .bind("t", tenant).bind("d", device).map((rs, ctx) -> row(rs)).findOne();
    }

    public List<Period> ofOwner(Handle h, String tenant, String owner) {
        return h.createQuery("SELECT * FROM ownership_periods WHERE tenant_id = :t AND owner_id = :o ORDER BY start_ms")
                .bind("t", tenant).bind("o", owner).map((rs, ctx) -> row(rs)).list();
    }

    public List<Period> ofDevice(Handle h, String tenant, String device) {
        return h.createQuery("SELECT * FROM ownership_periods WHERE tenant_id = :t AND device_id = :d ORDER BY start_ms")
                .bind("t", tenant).bind("d", device).map((rs, ctx) -> row(rs)).list();
    }

    private Period insert(Handle h, String tenant, String device, String owner, long nowMs) {
        String id = "op-" + Secrets.randomHex(8);
        String keyId = keys.create();
        h.createUpdate("INSERT INTO ownership_periods (id, tenant_id, device_id, owner_id, key_id, start_ms) VALUES (:id, :t, :d, :o, :k, :now)")
                .bind("id", id).bind("t", tenant).bind("d", device).bind("o", owner).bind("k", keyId).bind("now", nowMs).execute();
        return new Period(id, tenant, device, owner, keyId, nowMs, null);
    }

    private static Period row(java.sql.ResultSet rs) throws java.sql.SQLException {
        long end = rs.getLong("end_ms");
        Long endMs = rs.wasNull() ? null : end;
        return new Period(rs.getString("id"), rs.getString("tenant_id"), rs.getString("device_id"), rs.getString("owner_id"),
                rs.getString("key_id"), rs.getLong("start_ms"), endMs);
    }

    private static final String SEALED = "sealed:";

    /**
     * A text (a JSON document) sealed under the device's current period key, as stored in a text column:
     * {@code sealed:<key id>:<base64 nonce|ciphertext|tag>}.
     */
    public String sealText(Handle h, String tenant, String device, String kind, String text, long nowMs) {
        Period p = current(h, tenant, device, nowMs);
        byte[] sealed = keys.seal(p.keyId(), text.getBytes(java.nio.charset.StandardCharsets.UTF_8), aad(tenant, device, kind));
        return SEALED + p.keyId() + ":" + java.util.Base64.getEncoder().encodeToString(sealed);
    }

    /** The text back; a text that was stored unsealed as it is; null when its key was destroyed. */
    public String openText(String tenant, String device, String kind, String stored) {
        if (stored == null || !stored.startsWith(SEALED)) {
            return stored;
        }
        int colon = stored.indexOf(':', SEALED.length());
        if (colon < 0) {
            return null;
        }
        return keys.open(stored.substring(SEALED.length(), colon), java.util.Base64.getDecoder().decode(stored.substring(colon + 1)),
                aad(tenant, device, kind)).map(b -> new String(b, java.nio.charset.StandardCharsets.UTF_8)).orElse(null);
    }

    /** What a payload is bound to besides its key: tenant, device and kind. */
    public static byte[] aad(String tenant, String device, String kind) {
        return (tenant + "/" + device + "/" + kind).getBytes(java.nio.charset.StandardCharsets.UTF_8);
    }
}
