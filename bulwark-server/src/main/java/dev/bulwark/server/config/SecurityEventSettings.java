package dev.bulwark.server.config;

import java.time.Duration;

/**
 * How long security events are kept, and how the JSON Lines copy for a SIEM rotates, so that recording
 * refusals cannot fill the disk.
 *
 * @param retention     events (and alerts not updated since) older than this are deleted (default 90 days)
 * @param purgeInterval how often the retention job runs (default 10 minutes)
 * @param logMaxBytes   size at which {@code log/security-events.jsonl} is rotated (default 64 MiB)
 * @param logFiles      rotated files kept: {@code security-events.jsonl.1} (newest) … {@code .N}; older ones are deleted (default 10)
 */
public record SecurityEventSettings(Duration retention, Duration purgeInterval, long logMaxBytes, int logFiles) {

    public SecurityEventSettings {
        if (retention.compareTo(Duration.ofHours(1)) < 0 || purgeInterval.isNegative() || purgeInterval.isZero() || logMaxBytes < 4096
                || logFiles < 1 || logFiles > 1000) {
            throw new IllegalArgumentException("security event retention of at least an hour, a positive purge interval, a log size of "
                    + "at least 4096 bytes and 1 to 1000 rotated files");
        }
    }

    public static SecurityEventSettings defaults() {
        return new SecurityEventSettings(Duration.ofDays(90), Duration.ofMinutes(10), 64L * 1024 * 1024, 10);
    }

    public SecurityEventSettings withRetention(Duration v) {
        return new SecurityEventSettings(v, purgeInterval, logMaxBytes, logFiles);
    }

    public SecurityEventSettings withPurgeInterval(Duration v) {
        return new SecurityEventSettings(retention, v, logMaxBytes, logFiles);
    }

    public SecurityEventSettings withLog(long maxBytes, int files) {
        return new SecurityEventSettings(retention, purgeInterval, maxBytes, files);
    }
}
