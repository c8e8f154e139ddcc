package dev.bulwark.server.identity;

import dev.bulwark.protocol.TenantId;
import dev.bulwark.server.Clock;
import dev.bulwark.server.crypto.BearerSecret;
import dev.bulwark.server.store.Database;
import java.util.List;
import java.util.Optional;
import org.jdbi.v3.core.Handle;

/**
 * Operator API tokens: 256-bit random secrets shown once and stored only as SHA-256 digests, each with an
 * expiry and revocable by id. {@link #authenticate} is the one place that turns a presented bearer token
 * into an {@link OperatorPrincipal}.
 */
public final class ApiTokens {

    /** Token metadata; the secret is never stored and never part of this record. */
    public record TokenInfo(String id, String scope, String operator, long createdMs, long expiresMs, Long revokedMs) {
    }

    /** A freshly issued token: its metadata and, once, its secret. */
    public record Issued(TokenInfo info, BearerSecret secret) {
    }

    private final Database db;
    private final Clock clock;

    public ApiTokens(Database db, Clock clock) {
        this.db = db;
        this.clock = clock;
    }

    public Issued issue(Handle h, String scope, String operator, long ttlMs) {
        BearerSecret s = BearerSecret.generate(BearerSecret.OPERATOR);
        long now = clock.nowMs();
        h.createUpdate("INSERT INTO api_tokens (id, tenant_id, operator_name, secret_sha256, created_ms, expires_ms) "
                        + "VALUES (:id, :scope, :op, :digest, :now, :exp)")
                .bind("id", s.id()).bind("scope", scope).bind("op", operator).bind("digest", s.digest())
                .bind("now", now).bind("exp", now + ttlMs).execute();
        return new Issued(new TokenInfo(s.id(), scope, operator, now, now + ttlMs, null), s);
    }

    /**
     * Authenticates an {@code Authorization} header value. The refusal reasons are
     * {@code missing}, {@code malformed}, {@code unknown-token}, {@code wrong-secret}, {@code expired},
     * {@code revoked} and {@code operator-removed}.
     */
    public AuthOutcome<OperatorPrincipal> authenticate(String authorizationHeader) {
        if (authorizationHeader == null || authorizationHeader.isBlank()) {
            return new AuthOutcome.Refused<>("missing", null);
        }
        if (!authorizationHeader.regionMatches(true, 0, "Bearer ", 0, 7)) {
            return new AuthOutcome.Refused<>("malformed", null);
        }
        Optional<BearerSecret> parsed = BearerSecret.parse(BearerSecret.OPERATOR, authorizationHeader.substring(7).trim());
        if (parsed.isEmpty()) {
            return new AuthOutcome.Refused<>("malformed", null);
        }
        BearerSecret presented = parsed.get();
        return db.read(h -> {
            var row = h.createQuery("SELECT t.tenant_id, t.operator_name, t.secret_sha256, t.expires_ms, t.revoked_ms, o.roles "
                            + "FROM api_tokens t LEFT JOIN operators o ON o.tenant_id = t.tenant_id AND o.name = t.operator_name "
                            + "WHERE t.id = :id")
                    .bind("id", presented.id())
                    .map((rs, ctx) -> new Object[] {rs.getString(1), rs.getString(2), rs.getString(3), rs.getLong(4),
                            rs.getObject(5), rs.getString(6)})
                    .findOne();
            if (row.isEmpty()) {
                return new AuthOutcome.Refused<OperatorPrincipal>("unknown-token", "token:" + presented.id());
            }
            Object[] r = row.get();
            String claimed = "operator:" + r[0] + "/" + r[1] + " token:" + presented.id();
            // a refusal of a tenant operator's token is that tenant's to see (its analysts watch attacks on its operators)
            String owner = OperatorPrincipal.PLATFORM_SCOPE.equals(r[0]) ? null : (String) r[0];
            if (!presented.matches((String) r[2])) {
                return new AuthOutcome.Refused<OperatorPrincipal>("wrong-secret", claimed, owner);
            }
            if (r[4] != null) {
                return new AuthOutcome.Refused<OperatorPrincipal>("revoked", claimed, owner);
            }
            if ((Long) r[3] <= clock.nowMs()) {
                return new AuthOutcome.Refused<OperatorPrincipal>("expired", claimed, owner);
            }
            if (r[5] == null) {
                return new AuthOutcome.Refused<OperatorPrincipal>("operator-removed", claimed, owner);
            }
            String scope = (String) r[0];
            TenantId tenant = OperatorPrincipal.PLATFORM_SCOPE.equals(scope) ? null : TenantId.of(scope);
            return new AuthOutcome.Authenticated<>(new OperatorPrincipal(tenant, (String) r[1], Role.decode((String) r[5]), presented.id()));
        });
    }

    public Optional<TokenInfo> find(Handle h, String id) {
        return h.createQuery("SELECT * FROM api_tokens WHERE id = :id").bind("id", id).map((rs, ctx) -> info(rs)).findOne();
    }

    public List<TokenInfo> list(Handle h, String scope, String operatorOrNull) {
        String q = "SELECT * FROM api_tokens WHERE tenant_id = :scope" + (operatorOrNull == null ? "" : " AND operator_name = :op")
                + " ORDER BY created_ms, id";
        return h.createQuery(q).bind("scope", scope).bind("op", operatorOrNull).map((rs, ctx) -> info(rs)).list();
    }

    /** Revokes every live token of one operator (or owner) but {@code keepId}; returns how many were revoked. */
    public int revokeOthers(Handle h, String scope, String operator, String keepId) {
        return h.createUpdate("UPDATE api_tokens SET revoked_ms = :now WHERE tenant_id = :t AND operator_name = :o AND id <> :keep "
                        + "AND revoked_ms IS NULL")
                .bind("now", clock.nowMs()).bind("t", scope).bind("o", operator).bind("keep", keepId).execute();
    }

    /** Revokes a token; returns false when it was already revoked. */
    public boolean revoke(Handle h, String id) {
        return h.createUpdate("UPDATE api_tokens SET revoked_ms = :now WHERE id = :id AND revoked_ms IS NULL")
                .bind("now", clock.nowMs()).bind("id", id).execute() == 1;
    }

    private static TokenInfo info(java.sql.ResultSet rs) throws java.sql.SQLException {
        long revoked = rs.getLong("revoked_ms");
        Long revokedMs = rs.wasNull() ? null : revoked; // read before any other column: wasNull() speaks of the last read
        return new TokenInfo(rs.getString("id"), rs.getString("tenant_id"), rs.getString("operator_name"),
                rs.getLong("created_ms"), rs.getLong("expires_ms"), revokedMs);
    }
}
