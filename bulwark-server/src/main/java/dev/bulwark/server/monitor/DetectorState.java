package dev.bulwark.server.monitor;

import java.util.Collection;
import java.util.Set;

/**
 * What the {@link Detector} remembers between events: sliding windows of failures per identity and per source,
 * of session takeovers and of limit violations per identity, the last successful connection of each identity,
 * and the alerts open now. The detector decides; the state only records and returns windows.
 * {@link InProcessDetectorState} keeps it in one node's memory.
 *
 * <p>Time comes from the events ({@code timeMs}); a window holds the entries of the last {@code window} (the
 * detection settings' window) before the newest one. What any implementation must guarantee (a distributed one
 * in particular):
 * <ul>
 *   <li><b>One view.</b> A window returned after an event contains the entries recorded for that key by every
 *       node, so that failures spread over several nodes (a brute force sent to three nodes) are judged as one;
 *       a distributed implementation documents how late another node's entry may appear.</li>
 *   <li><b>One alert.</b> {@link #openAlert} returns the alert any node opened for the key within the window, so
 *       that an attack seen by several nodes raises one alert whose evidence is updated.</li>
 *   <li><b>Bounded.</b> At most about {@link Detector#MAX_KEYS} keys per kind, and windows of at most about a
 *       thousand entries; entries older than the window are dropped as keys are used, so a caller spraying
 *       identities or addresses cannot grow the state without limit.</li>
 * </ul>
 * Calls come from one thread at a time (the detector serializes them); a returned window is read before the
 * next call and not kept.
 *
 * <p><b>Routing.</b> The events reach the detector through {@link #route}: in-process at once, as this node reports
 * them. A distributed implementation may instead order every node's events into one stream that each node folds
 * in the same order; then each node holds the same windows and open alerts, and only the node that reported an
 * event acts on it ({@link #acting}: raises or updates the alert, bans), so the cluster raises one alert per
 * attack and agrees on its id ({@link #newAlertId}).
 */
public interface DetectorState {

    /** The detector's two entries: an authentication attempt and a security event to judge. */
    interface Judge {
        void attempt(AuthAttempt a);

        void event(SecurityEvent e);
    }

    /**
     * Connects the detector, once: returns where the detector hands each event it judges; the events are then
     * passed to {@code judge} (at once in-process, which is the default; or as an ordered stream comes back).
     */
    default Judge route(Judge judge) {
        return judge;
    }

    /** Whether this node acts on the event being judged (raises, updates, bans); always in-process. */
    default boolean acting() {
        return true;
    }

    /** The id of an alert opened now for {@code key}: random in-process; the same on every node that folds the event. */
    default String newAlertId(String key) {
        return "alert-" + dev.bulwark.server.crypto.Secrets.randomHex(8);
    }

    /** A failed authentication as the windows hold it. */
    record Failure(long timeMs, String identity, String credential, String source, String reason, String tenantId) {
    }

    /** A successful connection, a takeover or a violation: when, from where, of which tenant. */
    record Mark(long timeMs, String source, String tenantId) {
    }

    /** Adds {@code f} to the identity's failures; returns the window, oldest first. */
    Collection<Failure> identityFailure(String identity, Failure f);

    /** Adds {@code f} to the source's failures; returns the window, oldest first. */
    Collection<Failure> sourceFailure(String source, Failure f);

    /** Adds a session takeover of {@code identity}; returns the window of its takeovers. */
    Collection<Mark> takeover(String identity, Mark m);

    /** Adds a limit violation (rate, size) of {@code identity}; returns the window of its violations. */
    Collection<Mark> violation(String identity, Mark m);

    /** Records a successful connection of {@code identity}; returns the previous one still in the window, or null. */
    Mark connected(String identity, Mark m);

    /** The alert open for {@code key} (label, subject, tenant), or null. */
    Alert openAlert(String key, long nowMs);

    /** Records {@code alert} as the one open for {@code key}. */
    void opened(String key, Alert alert, long nowMs);

    /**
     * Adds {@code identity} to the identities of {@code tenant} reconnecting, after clearing them when
     * {@code restart}; returns them in the order first seen.
     */
    Set<String> retrying(String tenant, String identity, boolean restart);

    /** How many identities and sources have failures in the windows now. */
    int tracked();
}
