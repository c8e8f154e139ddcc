package dev.bulwark.server;

import java.util.ArrayDeque;
import java.util.Deque;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * What a node opened, to be closed in the reverse order: a part is closed before everything it was built
 * from. The node's assembly registers each part as soon as it exists, so a start that fails half-way closes
 * exactly what it had opened, and a node that stops closes the same parts in the same order. A part that fails
 * to close is logged and the others are still closed.
 */
final class Shutdown {
    private static final Logger LOG = LoggerFactory.getLogger(Shutdown.class);

    /** How to close a part of type {@code T}; may throw. */
    @FunctionalInterface
    interface Closing<T> {
        void close(T part) throws Exception;
    }

    @FunctionalInterface
    private interface Step {
        void close() throws Exception;
    }

    private record Entry(String what, Step step) {
    }

    private final Deque<Entry> opened = new ArrayDeque<>();

    /** Registers {@code part}, closed by {@code closing}; returns the part. */
    <T> T add(String what, T part, Closing<? super T> closing) {
        opened.push(new Entry(what, () -> closing.close(part)));
        return part;
    }

    /** Registers an {@link AutoCloseable} part; returns it. */
    <T extends AutoCloseable> T add(String what, T part) {
        return add(what, part, AutoCloseable::close);
    }

    /** Closes everything registered, the last registered first. A second call does nothing. */
    synchronized void close() {
        while (!opened.isEmpty()) {
            Entry e = opened.pop();
            try {
                e.step().close();
            } catch (Exception ex) {
                LOG.warn("closing the {} failed: {}", e.what(), ex.toString());
            }
        }
    }
}
