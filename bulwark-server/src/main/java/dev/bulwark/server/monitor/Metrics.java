package dev.bulwark.server.monitor;

import io.micrometer.core.instrument.Counter;
import io.micrometer.core.instrument.Gauge;
import io.micrometer.core.instrument.Timer;
import io.micrometer.prometheusmetrics.PrometheusConfig;
import io.micrometer.prometheusmetrics.PrometheusMeterRegistry;
import java.time.Duration;
import java.util.function.Supplier;

/**
 * The node's metrics, in Prometheus text format at {@code /metrics}. Labels carry only bounded values
 * (reasons, kinds, labels, channels): never an identity, address or tenant, so an attacker cannot blow up
 * the series count.
 */
public final class Metrics {
    private final PrometheusMeterRegistry registry = new PrometheusMeterRegistry(PrometheusConfig.DEFAULT);
    private final Timer commit;
    /** Micrometer holds a function counter's source weakly: these keep the suppliers alive as long as the registry. */
    private final java.util.List<Supplier<Number>> counterSources = new java.util.concurrent.CopyOnWriteArrayList<>();

    public Metrics() {
        commit = Timer.builder("bulwark_telemetry_commit").description("Time to commit one group-commit batch")
                .publishPercentiles(0.5, 0.99).register(registry);
    }

    public void authenticationFailed(String channel, String reason) {
        Counter.builder("bulwark_authentication_failures").description("Refused authentications by channel and reason")
                .tag("channel", bounded(channel)).tag("reason", bounded(reason)).register(registry).increment();
    }

    public void refused(String kind) {
        Counter.builder("bulwark_refusals").description("Security events (refusals and notable events) by type")
                .tag("type", bounded(kind)).register(registry).increment();
    }

    public void alert(String label) {
        Counter.builder("bulwark_alerts").description("Alerts raised by the detector, by label").tag("label", bounded(label))
                .register(registry).increment();
    }

    public void committed(Duration batchTime) {
        commit.record(batchTime);
    }

    /** Registers a gauge read from {@code value} at each scrape. */
    public void gauge(String name, String description, Supplier<Number> value) {
        Gauge.builder(name, value).description(description).register(registry);
    }

    /** Registers a counter whose value is read from {@code value} at each scrape (monotonic). */
    public void counter(String name, String description, Supplier<Number> value) {
        counterSources.add(value);
        io.micrometer.core.instrument.FunctionCounter.builder(name, value, v -> v.get().doubleValue()).description(description)
                .register(registry);
    }

    public String scrape() {
        return registry.scrape();
    }

    private static String bounded(String v) {
        if (v == null) {
            return "none";
        }
        String s = v.length() > 60 ? v.substring(0, 60) : v;
        return s.matches("[A-Za-z0-9._-]+") ? s : "other";
    }
}
