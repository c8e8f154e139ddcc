package dev.bulwark.server.identity;

import dev.bulwark.protocol.TenantId;
import dev.bulwark.server.core.Clock;
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
    private final ApiTokenStore store;
    private final Clock clock;

    public ApiTokens(Database db, ApiTokenStore store, Clock clock) {
        this.db = db;
        this.store = store;
        this.clock = clock;
    }

    public Issued issue(Handle h, String scope, String operator, long ttlMs) {
        BearerSecret s = BearerSecret.generate(BearerSecret.OPERATOR);
        return new Issued(store.insert(h, scope, operator, s, clock.nowMs(), ttlMs), s);
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
        Optional<ApiTokenStore.Presented> row = db.read(h -> store.findForAuthentication(h, presented.id()));
        if (row.isEmpty()) {
            return new AuthOutcome.Refused<>("unknown-token", "token:" + presented.id());
        }
        TokenInfo t = row.get().info();
        String claimed = "operator:" + t.scope() + "/" + t.operator() + " token:" + presented.id();
        // a refusal of a tenant operator's token is that tenant's to see (its analysts watch attacks on its operators)
        String owner = OperatorPrincipal.PLATFORM_SCOPE.equals(t.scope()) ? null : t.scope();
        if (!presented.matches(row.get().secretSha256())) {
            return new AuthOutcome.Refused<>("wrong-secret", claimed, owner);
        }
        if (t.revokedMs() != null) {
            return new AuthOutcome.Refused<>("revoked", claimed, owner);
        }
        if (t.expiresMs() <= clock.nowMs()) {
            return new AuthOutcome.Refused<>("expired", claimed, owner);
        }
        if (row.get().operatorRoles() == null) {
            return new AuthOutcome.Refused<>("operator-removed", claimed, owner);
        }
        TenantId tenant = OperatorPrincipal.PLATFORM_SCOPE.equals(t.scope()) ? null : TenantId.of(t.scope());
        return new AuthOutcome.Authenticated<>(new OperatorPrincipal(tenant, t.operator(), Role.decode(row.get().operatorRoles()),
                presented.id()));
    }

    /** The token {@code id} of {@code scope}. */
    public Optional<TokenInfo> find(Handle h, String scope, String id) {
        return store.find(h, scope, id);
    }

    /** The token {@code id} of whichever scope: for platform admins only. */
    public Optional<TokenInfo> findAnyScope(Handle h, String id) {
        return store.findAnyScope(h, id);
    }

    public List<TokenInfo> list(Handle h, String scope, String operatorOrNull) {
        return store.list(h, scope, operatorOrNull);
    }

    /** Revokes every live token of one operator (or owner) but {@code keepId}; returns how many were revoked. */
    public int revokeOthers(Handle h, String scope, String operator, String keepId) {
        return store.revokeOthers(h, scope, operator, keepId, clock.nowMs());
    }

    /** Revokes the token {@code id} of {@code scope}; returns false when it was already revoked. */
    public boolean revoke(Handle h, String scope, String id) {
        return store.revoke(h, scope, id, clock.nowMs());
    }
}
