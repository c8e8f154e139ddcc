package dev.bulwark.device;

import java.util.ArrayDeque;
import java.util.ArrayList;
import java.util.Iterator;
import java.util.List;

/**
 * The device's outbound queue: messages wait here until the server acknowledges them (QoS 1 PUBACK, which
 * Bulwark sends only after the message is committed). While the connection is down they accumulate; when
 * it returns they are sent in order.
 *
 * <p>It is bounded ({@code capacity} messages, sent-but-unacknowledged ones included). What happens when it
 * is full is the {@link DropPolicy}, chosen by the device maker, and every dropped message is counted: nothing
 * is lost silently.
 */
public final class OutboundBuffer {

    /** What to give up when the buffer is full. */
    public enum DropPolicy {
        /** Keep the newest data: drop the oldest message not yet sent. */
        DROP_OLDEST,
        /** Keep the oldest data: refuse the new message ({@link #offer} returns false). */
        REJECT_NEWEST
    }

    /** One message: where it goes, what it carries, and its place in the device's sequence. */
    public record Message(long sequence, String topic, byte[] payload) {
    }

    private final int capacity;
    private final DropPolicy policy;
    private final ArrayDeque<Message> waiting = new ArrayDeque<>();
    private final List<Message> inFlight = new ArrayList<>();
    private long nextSequence;
    private long accepted;
    private long dropped;
    private long acknowledged;

    public OutboundBuffer(int capacity, DropPolicy policy) {
        if (capacity < 1) {
            throw new IllegalArgumentException("capacity must be at least 1");
        }
        this.capacity = capacity;
        this.policy = policy;
    }

    /** Adds a message; false when it was refused (full, {@link DropPolicy#REJECT_NEWEST}). */
    public synchronized boolean offer(String topic, byte[] payload) {
        if (waiting.size() + inFlight.size() >= capacity) {
            if (policy == DropPolicy.DROP_OLDEST && !waiting.isEmpty()) {
                waiting.pollFirst();
                dropped++;
            } else {
                dropped++;
                return false;
            }
        }
        waiting.addLast(new Message(nextSequence++, topic, payload));
        accepted++;
        return true;
    }

    /** The next message to send, now counted as in flight; null when nothing waits or the window is full. */
    public synchronized Message take(int window) {
        if (inFlight.size() >= window || waiting.isEmpty()) {
            return null;
        }
        Message m = waiting.pollFirst();
        inFlight.add(m);
        return m;
    }

    /** The server acknowledged {@code m}: it is stored and leaves the buffer. */
    public synchronized void acknowledged(Message m) {
        // a late acknowledgement may arrive after the message was put back to wait: it is stored all the same
        if (inFlight.remove(m) || waiting.remove(m)) {
            acknowledged++;
        }
    }

    /** The connection was lost: what was in flight is sent again, first and in its original order. */
    public synchronized void requeueInFlight() {
        inFlight.sort((a, b) -> Long.compare(a.sequence(), b.sequence()));
        for (int i = inFlight.size() - 1; i >= 0; i--) {
            waiting.addFirst(inFlight.get(i));
        }
        inFlight.clear();
    }

    /** Messages not yet acknowledged (waiting and in flight). */
    public synchronized int size() {
        return waiting.size() + inFlight.size();
    }

    public synchronized int inFlight() {
        return inFlight.size();
    }

    public synchronized long accepted() {
        return accepted;
    }

    public synchronized long dropped() {
        return dropped;
    }

    public synchronized long acknowledged() {
        return acknowledged;
    }

    /** Sequences of the messages still held, oldest first (for diagnostics and tests). */
    public synchronized List<Long> heldSequences() {
        List<Long> out = new ArrayList<>();
        inFlight.forEach(m -> out.add(m.sequence()));
        for (Iterator<Message> it = waiting.iterator(); it.hasNext(); ) {
            out.add(it.next().sequence());
        }
        out.sort(Long::compare);
        return out;
    }

    public int capacity() {
        return capacity;
    }

    public DropPolicy policy() {
        return policy;
    }
}
