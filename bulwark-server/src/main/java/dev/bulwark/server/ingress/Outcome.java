package dev.bulwark.server.ingress;

import java.util.concurrent.Executor;

/**
 * Where {@link IngressGate} reports what became of one message: exactly one call, {@link #admitted} or
 * {@link #refused}. A refusal decided before the writer is reported at once on the caller's thread; everything
 * after the writer runs on {@link #executor()}.
 */
public interface Outcome {
    /** Committed, and applied on the control plane: acknowledge now (if the device still waits for it). */
    void admitted(Route route);

    /** Not admitted; the refusal is already recorded where one is recorded. */
    void refused(Admission.Refused refusal);

    /** The transport's event loop: where the outcome of a message handed to the writer runs. */
    Executor executor();

    /**
     * False once nobody waits any more (the connection is closing): a message waiting for room in the writer is
     * given up, unstored and unacknowledged, and reported as {@link Admission.Reason#WRITER_SATURATED}.
     */
    default boolean waiting() {
        return true;
    }
}
