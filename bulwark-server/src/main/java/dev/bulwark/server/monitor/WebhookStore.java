package dev.bulwark.server.monitor;

import dev.bulwark.protocol.TenantId;
import dev.bulwark.server.core.Clock;
import dev.bulwark.server.crypto.KeyWrapper;
import dev.bulwark.server.crypto.Secrets;
import dev.bulwark.server.store.Database;
import java.nio.charset.StandardCharsets;
import java.util.Base64;
import java.util.List;
import java.util.Objects;
import org.jdbi.v3.core.Handle;

/**
 * A tenant's alert webhooks in the database ({@code webhooks}). Each webhook's signing secret is sealed with the
 * key-encryption key, bound to the webhook's id, so the database holds no usable secret; a store cannot be
 * built without that key. Every statement names the tenant.
 */
public final class WebhookStore {

    /** A registered webhook (the secret is never listed). */
    public record Webhook(String id, String tenantId, String url, long createdMs, String createdBy) {
    }

    /** A webhook just registered, with its signing secret (shown once). */
    public record Created(Webhook webhook, String secret) {
    }

    /** Where a delivery goes: the webhook's URL and its signing secret, unsealed. */
    public record Target(String id, String url, String secret) {
    }

    private final Database db;
    private final Clock clock;
    private final KeyWrapper kek;

    /** @param kek seals each webhook's signing secret (required) */
    public WebhookStore(Database db, Clock clock, KeyWrapper kek) {
        this.db = Objects.requireNonNull(db, "db");
        this.clock = Objects.requireNonNull(clock, "clock");
        this.kek = Objects.requireNonNull(kek, "webhook secrets are sealed: a key-encryption key is required");
    }

    /** Registers a webhook of {@code tenant} to {@code url}, in the caller's transaction. */
    public Created create(Handle h, TenantId tenant, String url, String createdBy) {
        String id = "wh-" + Secrets.randomHex(8);
        String secret = "bwh." + Secrets.randomBase64Url(32);
        long now = clock.nowMs();
        h.createUpdate("INSERT INTO webhooks (id, tenant_id, url, secret, created_ms, created_by) VALUES (:id, :t, :u, :s, :now, :by)")
                .bind("id", id).bind("t", tenant.value()).bind("u", url)
                .bind("s", Base64.getEncoder().encodeToString(kek.wrap(secret.getBytes(StandardCharsets.UTF_8),
                        id.getBytes(StandardCharsets.UTF_8)))).bind("now", now).bind("by", createdBy)
                .execute();
        return new Created(new Webhook(id, tenant.value(), url, now, createdBy), secret);
    }

    /** The tenant's webhooks, oldest first. */
    public List<Webhook> list(TenantId tenant) {
        return db.read(h -> h.createQuery("SELECT id, tenant_id, url, created_ms, created_by FROM webhooks WHERE tenant_id = :t "
                        + "ORDER BY created_ms, id")
                .bind("t", tenant.value())
                .map((rs, ctx) -> new Webhook(rs.getString("id"), rs.getString("tenant_id"), rs.getString("url"),
                        rs.getLong("created_ms"), rs.getString("created_by"))).list());
    }

    /** Removes the tenant's webhook {@code id}, in the caller's transaction; false when the tenant has none of that id. */
    public boolean delete(Handle h, TenantId tenant, String id) {
        return h.createUpdate("DELETE FROM webhooks WHERE tenant_id = :t AND id = :id").bind("t", tenant.value()).bind("id", id)
                .execute() == 1;
    }

    /** The tenant's webhooks with their secrets unsealed, to deliver an alert. */
    public List<Target> targets(String tenantId) {
        return db.read(h -> h.createQuery("SELECT id, url, secret FROM webhooks WHERE tenant_id = :t").bind("t", tenantId)
                .map((rs, ctx) -> new Target(rs.getString("id"), rs.getString("url"), new String(kek.unwrap(
                        Base64.getDecoder().decode(rs.getString("secret")), rs.getString("id").getBytes(StandardCharsets.UTF_8)),
                        StandardCharsets.UTF_8))).list());
    }
}
