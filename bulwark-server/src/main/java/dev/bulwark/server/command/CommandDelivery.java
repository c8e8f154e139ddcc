package dev.bulwark.server.command;

/**
 * How a command reaches its device. The in-process default, {@link LocalCommandDelivery}, sends it on the
 * device's session if the device is connected to this node; a clustered node replaces it with one that
 * reaches the node holding the session.
 */
public interface CommandDelivery {

    /**
     * Sends {@code command} to its device if the device is listening on its {@code commands} topic now;
     * {@code onDelivered} runs (on an event loop: it must not block) when the device acknowledged it.
     * Returns false when it could not be sent now (the command stays queued).
     */
    boolean send(Command command, Runnable onDelivered);
}
