package dev.bulwark.protocol;

/**
 * The topics of one device, built once: {@link #parse} answers the device's frequent topics (telemetry, events,
 * reported configuration) with one string comparison and no allocation, and everything else with
 * {@link DeviceTopic#parse}. Same answers as {@link DeviceTopic#parse}, for a connection's hot path.
 */
public final class DeviceNamespace {
    private final DeviceId device;
    private final DeviceTopic.Telemetry telemetry;
    private final DeviceTopic.Events events;
    private final DeviceTopic.ReportedConfig reported;
    private final String telemetryName;
    private final String eventsName;
    private final String reportedName;

    public DeviceNamespace(DeviceId device) {
        this.device = device;
        this.telemetry = new DeviceTopic.Telemetry(device);
        this.events = new DeviceTopic.Events(device);
        this.reported = new DeviceTopic.ReportedConfig(device);
        this.telemetryName = telemetry.name();
        this.eventsName = events.name();
        this.reportedName = reported.name();
    }

    public DeviceId device() {
        return device;
    }

    public DeviceTopic.Telemetry telemetry() {
        return telemetry;
    }

    public DeviceTopic.Events events() {
        return events;
    }

    public DeviceTopic.ReportedConfig reportedConfig() {
        return reported;
    }

    /** As {@link DeviceTopic#parse}. */
    public TopicParse parse(String topic) {
        if (telemetryName.equals(topic)) {
            return telemetry;
        }
        if (eventsName.equals(topic)) {
            return events;
        }
        if (reportedName.equals(topic)) {
            return reported;
        }
        return DeviceTopic.parse(topic);
    }

    /** True when {@code topic} is in this device's own namespace (whatever its device level's validity). */
    public boolean owns(TopicParse parsed) {
        return parsed instanceof DeviceTopic t ? t.device().equals(device)
                : parsed instanceof TopicParse.Refused r && device.value().equals(r.deviceLevel());
    }
}
