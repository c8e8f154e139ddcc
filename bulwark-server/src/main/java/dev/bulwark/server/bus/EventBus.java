package dev.bulwark.server.bus;

import java.util.function.Consumer;

/**
 * Where events flow between the parts of a node: security events and authentication outcomes to the
 * detector, alerts to the webhooks and the log. One node uses {@link InProcessBus}; scaled out, the same
 * topics become Kafka topics, so publishers and subscribers only see this interface and immutable records.
 */
public interface EventBus extends AutoCloseable {

    /** Hands {@code event} to the topic's subscribers without blocking; false when it had to be dropped. */
    boolean publish(String topic, Object event);

    /** Delivers the topic's events to {@code consumer}, one at a time, on a thread of the bus. */
    void subscribe(String topic, Consumer<Object> consumer);

    /** Events dropped because a subscriber could not keep up (counted, never silently lost). */
    long dropped();

    @Override
    void close();

    /** The topics a node uses. */
    final class Topics {
        /** {@code SecurityEvent}s, after they were handed to storage. */
        public static final String SECURITY_EVENTS = "security.events";
        /** {@code AuthAttempt}s: every device authentication, successful or not (not stored). */
        public static final String AUTH_ATTEMPTS = "security.auth-attempts";
        /** {@code Alert}s raised by the detector. */
        public static final String ALERTS = "security.alerts";

        private Topics() {
        }
    }
}
