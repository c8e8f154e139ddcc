package dev.bulwark.server.ownership;

import dev.bulwark.protocol.DeviceId;
import dev.bulwark.protocol.TenantId;
import dev.bulwark.server.crypto.DataKeys;
import dev.bulwark.server.crypto.Secrets;
import java.nio.charset.StandardCharsets;
import java.util.Base64;
import java.util.List;
import java.util.Map;
import java.util.Objects;
import java.util.Optional;
import java.util.concurrent.ConcurrentHashMap;
import org.jdbi.v3.core.Handle;

/**
 * Ownership periods: for each device, a sequence of periods (owner or none), each with its own data key.
 * Every payload a device sends is sealed under the key of the period it arrives in; an owner sees the data
 * of their periods only; ending a period (transfer) or deleting an owner destroys nothing else's key.
 * Periods are stored by {@link PeriodStore}; the open one of each device is cached here.
 *
 * <p>The group-commit writer's hot path passes the tenant and device strings its messages carry (checked
 * at admission): {@link #cached(String, String)}, {@link #current(Handle, String, String, long)},
 * {@link #forget(String, String)} and {@link #aad}. Everything else takes typed ids.
 */
public final class Ownership {

    /** One period of one device. */
    public record Period(String id, TenantId tenant, DeviceId device, String ownerId, String keyId, long startMs, Long endMs) {
    }

    private final DataKeys keys;
    private final PeriodStore store;
    private final Map<String, Period> current = new ConcurrentHashMap<>();

    public Ownership(DataKeys keys, PeriodStore store) {
        this.keys = Objects.requireNonNull(keys, "keys");
        this.store = Objects.requireNonNull(store, "store");
    }

    public DataKeys keys() {
        return keys;
    }

    /** The device's open period, opened (with no owner) if it has none. */
    public Period current(Handle h, TenantId tenant, DeviceId device, long nowMs) {
        return current(h, tenant.value(), device.value(), nowMs);
    }

    /** {@link #current(Handle, TenantId, DeviceId, long)} for the writer's hot path. */
    public Period current(Handle h, String tenant, String device, long nowMs) {
        String k = tenant + "/" + device;
        Period p = current.get(k);
        if (p != null) {
            return p;
        }
        TenantId t = TenantId.of(tenant);
        DeviceId d = DeviceId.of(device);
        p = store.open(h, t, d).orElse(null);
        if (p == null) {
            p = insert(h, t, d, null, nowMs);
        }
        current.put(k, p);
        return p;
    }

    /** The device's open period if it is known here without a database read, else null. */
    public Period cached(String tenant, String device) {
        return current.get(tenant + "/" + device);
    }

    /** Closes the device's open period and opens one for {@code owner} (null: no owner) with a new key. */
    public Period transfer(Handle h, TenantId tenant, DeviceId device, String owner, long nowMs) {
        store.close(h, tenant, device, nowMs);
        Period p = insert(h, tenant, device, owner, nowMs);
        current.put(tenant.value() + "/" + device.value(), p);
        return p;
    }

    /** Forgets cached periods (after a transaction that changed them was rolled back, or a purge). */
    public void forget(TenantId tenant, DeviceId device) {
        forget(tenant.value(), device.value());
    }

    /** {@link #forget(TenantId, DeviceId)} for the writer's hot path. */
    public void forget(String tenant, String device) {
        current.remove(tenant + "/" + device);
    }

    public Optional<Period> open(Handle h, TenantId tenant, DeviceId device) {
        return store.open(h, tenant, device);
    }

    public List<Period> ofOwner(Handle h, TenantId tenant, String owner) {
        return store.ofOwner(h, tenant, owner);
    }

    public List<Period> ofDevice(Handle h, TenantId tenant, DeviceId device) {
        return store.ofDevice(h, tenant, device);
    }

    private Period insert(Handle h, TenantId tenant, DeviceId device, String owner, long nowMs) {
        Period p = new Period("op-" + Secrets.randomHex(8), tenant, device, owner, keys.create(), nowMs, null);
        store.insert(h, p);
        return p;
    }

    private static final String SEALED = "sealed:";

    /**
     * A text (a JSON document) sealed under the device's current period key, as stored in a text column:
     * {@code sealed:<key id>:<base64 nonce|ciphertext|tag>}.
     */
    public String sealText(Handle h, TenantId tenant, DeviceId device, String kind, String text, long nowMs) {
        Period p = current(h, tenant, device, nowMs);
        byte[] sealed = keys.seal(p.keyId(), text.getBytes(StandardCharsets.UTF_8), aad(tenant.value(), device.value(), kind));
        return SEALED + p.keyId() + ":" + Base64.getEncoder().encodeToString(sealed);
    }

    /** The text back; a text that was stored unsealed as it is; null when its key was destroyed. */
    public String openText(TenantId tenant, DeviceId device, String kind, String stored) {
        if (stored == null || !stored.startsWith(SEALED)) {
            return stored;
        }
        int colon = stored.indexOf(':', SEALED.length());
        if (colon < 0) {
            return null;
        }
        return keys.open(stored.substring(SEALED.length(), colon), Base64.getDecoder().decode(stored.substring(colon + 1)),
                aad(tenant.value(), device.value(), kind)).map(b -> new String(b, StandardCharsets.UTF_8)).orElse(null);
    }

    /** What a payload is bound to besides its key: tenant, device and kind. */
    public static byte[] aad(String tenant, String device, String kind) {
        return (tenant + "/" + device + "/" + kind).getBytes(StandardCharsets.UTF_8);
    }
}
