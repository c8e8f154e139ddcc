package dev.bulwark.server.ingress;

import dev.bulwark.protocol.DeviceTopic;

/** Where an admitted device message goes; {@link #kind()} is the kind it is stored and queried as. */
public enum Route {
    TELEMETRY("telemetry", false),
    EVENTS("events", false),
    /** Applied to the device's shadow after the commit. */
    REPORTED_CONFIG("config-reported", true),
    /** Completes the device's open command after the commit. */
    COMMAND_RESULT("command-result", true);

    private final String kind;
    private final boolean control;

    Route(String kind, boolean control) {
        this.kind = kind;
        this.control = control;
    }

    public String kind() {
        return kind;
    }

    /** True for the control plane: a JSON object, applied (on a worker) after its commit, before its acknowledgement. */
    public boolean control() {
        return control;
    }

    public static Route of(DeviceTopic.Upstream topic) {
        if (topic instanceof DeviceTopic.Telemetry) {
            return TELEMETRY;
        }
        if (topic instanceof DeviceTopic.Events) {
            return EVENTS;
        }
        if (topic instanceof DeviceTopic.ReportedConfig) {
            return REPORTED_CONFIG;
        }
        return COMMAND_RESULT;
    }
}
