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
     */
    record Refused<P>(String reason, String claimedIdentity) implements AuthOutcome<P> {
    }
}
