package dev.bulwark.server.store;

import org.jdbi.v3.core.Handle;

/**
 * Work a caller outside the stores runs in one transaction (or one auto-commit read): it receives the
 * {@link Handle} only to pass it on to the stores, as the opaque identity of the unit of work, and never
 * runs a statement on it itself.
 */
@FunctionalInterface
public interface UnitOfWork<R> {
    R run(Handle h);
}
