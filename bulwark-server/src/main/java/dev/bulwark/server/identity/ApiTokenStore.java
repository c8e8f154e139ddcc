package dev.bulwark.server.identity;

import dev.bulwark.server.crypto.BearerSecret;
import dev.bulwark.server.identity.ApiTokens.TokenInfo;
import java.util.List;
import java.util.Optional;
import org.jdbi.v3.core.Handle;
import org.jdbi.v3.core.mapper.RowMapper;

/**
 * Operator API tokens as stored: metadata and the SHA-256 digest of each secret, keyed by scope (a tenant id,
 * or {@link OperatorPrincipal#PLATFORM_SCOPE}). Every statement is keyed by scope except the two lookups by
 * token id that must cross scopes: {@link #findForAuthentication} (a presented token names its scope) and
 * {@link #findAnyScope} (a platform admin revoking any token in an incident).
 */
public final class ApiTokenStore {

    /** A token as the authenticator needs it: its metadata, its digest, and its operator's roles (null once the operator is gone). */
    public record Presented(TokenInfo info, String secretSha256, String operatorRoles) {
    }

    private static final RowMapper<TokenInfo> INFO = (rs, ctx) -> {
        long revoked = rs.getLong("revoked_ms");
        Long revokedMs = rs.wasNull() ? null : revoked; // read before any other column: wasNull() speaks of the last read
        return new TokenInfo(rs.getString("id"), rs.getString("tenant_id"), rs.getString("operator_name"),
                rs.getLong("created_ms"), rs.getLong("expires_ms"), revokedMs);
    };

    public TokenInfo insert(Handle h, String scope, String operator, BearerSecret secret, long nowMs, long ttlMs) {
        h.createUpdate("INSERT INTO api_tokens (id, tenant_id, operator_name, secret_sha256, created_ms, expires_ms) "
                        + "VALUES (:id, :scope, :op, :digest, :now, :exp)")
                .bind("id", secret.id()).bind("scope", scope).bind("op", operator).bind("digest", secret.digest())
                .bind("now", nowMs).bind("exp", nowMs + ttlMs).execute();
        return new TokenInfo(secret.id(), scope, operator, nowMs, nowMs + ttlMs, null);
    }

    /** The token {@code id} of whichever scope, with its digest and its operator's roles: the lookup that names who presents it. */
    public Optional<Presented> findForAuthentication(Handle h, String id) {
        return h.createQuery("SELECT t.*, o.roles FROM api_tokens t "
                        + "LEFT JOIN operators o ON o.tenant_id = t.tenant_id AND o.name = t.operator_name WHERE t.id = :id")
                .bind("id", id)
                .map((rs, ctx) -> new Presented(INFO.map(rs, ctx), rs.getString("secret_sha256"), rs.getString("roles")))
                .findOne();
    }

    /** The scope's token {@code id}. */
    public Optional<TokenInfo> find(Handle h, String scope, String id) {
        return h.createQuery("SELECT * FROM api_tokens WHERE tenant_id = :scope AND id = :id")
                .bind("scope", scope).bind("id", id).map(INFO).findOne();
    }

    /** The token {@code id} of whichever scope; for platform admins only (incident response reads no tenant data). */
    public Optional<TokenInfo> findAnyScope(Handle h, String id) {
        return h.createQuery("SELECT * FROM api_tokens WHERE id = :id").bind("id", id).map(INFO).findOne();
    }

    /** The scope's tokens, or one operator's when {@code operatorOrNull} is set, oldest first. */
    public List<TokenInfo> list(Handle h, String scope, String operatorOrNull) {
        String q = "SELECT * FROM api_tokens WHERE tenant_id = :scope" + (operatorOrNull == null ? "" : " AND operator_name = :op")
                + " ORDER BY created_ms, id";
        return h.createQuery(q).bind("scope", scope).bind("op", operatorOrNull).map(INFO).list();
    }

    /** Revokes every live token of one operator of the scope but {@code keepId}; returns how many were revoked. */
    public int revokeOthers(Handle h, String scope, String operator, String keepId, long nowMs) {
        return h.createUpdate("UPDATE api_tokens SET revoked_ms = :now WHERE tenant_id = :t AND operator_name = :o AND id <> :keep "
                        + "AND revoked_ms IS NULL")
                .bind("now", nowMs).bind("t", scope).bind("o", operator).bind("keep", keepId).execute();
    }

    /** Revokes the scope's token {@code id}; false when it was already revoked (or is not the scope's). */
    public boolean revoke(Handle h, String scope, String id, long nowMs) {
        return h.createUpdate("UPDATE api_tokens SET revoked_ms = :now WHERE tenant_id = :scope AND id = :id AND revoked_ms IS NULL")
                .bind("now", nowMs).bind("scope", scope).bind("id", id).execute() == 1;
    }
}
