package dev.bulwark.server.config;

import java.time.Duration;

/**
 * Thresholds of the security detector. Every count is taken over a sliding {@code window}.
 *
 * @param window              how far back the detector looks (default 60 s)
 * @param bruteForceSecrets   distinct failing secrets against one identity that make a brute-force attack (5)
 * @param distributedSources  distinct source addresses failing against one identity that make a distributed attack (5)
 * @param enumerationIds      distinct identities failing from one source address that make an enumeration (10)
 * @param misconfiguredRepeats failures of one identity with one and the same credential that mark a misconfigured device (3)
 * @param cloneTakeovers      session takeovers of one identity from different sources that mark a cloned device (3)
 * @param floodingViolations  rate or size violations of one identity that mark flooding (3)
 * @param tarpitFreeFailures  failures from one source before its refusals are delayed (3)
 * @param tarpitMax           the longest delay of a refusal (8 s)
 * @param banBase             the first ban of a source (60 s); each further ban doubles it
 * @param banMax              the longest ban (1 h)
 */
public record DetectionSettings(Duration window, int bruteForceSecrets, int distributedSources, int enumerationIds,
                                int misconfiguredRepeats, int cloneTakeovers, int floodingViolations, int tarpitFreeFailures,
                                Duration tarpitMax, Duration banBase, Duration banMax) {

    public DetectionSettings {
        if (window.isNegative() || window.isZero() || bruteForceSecrets < 2 || distributedSources < 2 || enumerationIds < 2
                || misconfiguredRepeats < 2 || cloneTakeovers < 2 || floodingViolations < 1 || tarpitFreeFailures < 0
                || banBase.isNegative() || banMax.compareTo(banBase) < 0) {
            throw new IllegalArgumentException("detection thresholds out of range");
        }
    }

    public static DetectionSettings defaults() {
        return new DetectionSettings(Duration.ofSeconds(60), 5, 5, 10, 3, 3, 3, 3, Duration.ofSeconds(8), Duration.ofSeconds(60),
                Duration.ofHours(1));
    }

    public DetectionSettings withBans(Duration base, Duration max) {
        return new DetectionSettings(window, bruteForceSecrets, distributedSources, enumerationIds, misconfiguredRepeats, cloneTakeovers,
                floodingViolations, tarpitFreeFailures, tarpitMax, base, max);
    }

    public DetectionSettings withTarpit(int freeFailures, Duration max) {
        return new DetectionSettings(window, bruteForceSecrets, distributedSources, enumerationIds, misconfiguredRepeats, cloneTakeovers,
                floodingViolations, freeFailures, max, banBase, banMax);
    }
}
