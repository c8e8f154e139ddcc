package dev.bulwark.server.identity;

import java.util.Objects;

/**
 * The result of authenticating a presented credential: a principal, or a refusal with its reason.
 * Never null, never a bare boolean.
 */
public sealed interface AuthOutcome<P> {

    record Authenticated<P>(P principal) implements AuthOutcome<P> {
        public Authenticated {
            Objects.requireNonNull(principal);
        }
    }

    /**
     * @param reason        machine-friendly reason (e.g. {@code token-expired}); recorded in the security event
     * @param claimedIdentity what the caller claimed to be (e.g. a token id), never a secret
     * @param tenantId        the tenant concerned, when the credential could be attributed to one
     */
    record Refused<P>(String reason, String claimedIdentity, String tenantId) implements AuthOutcome<P> {
        public Refused(String reason, String claimedIdentity) {
            this(reason, claimedIdentity, null);
        }
    }
}
