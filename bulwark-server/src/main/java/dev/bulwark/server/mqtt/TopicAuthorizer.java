package dev.bulwark.server.mqtt;

import dev.bulwark.server.device.DevicePrincipal;
import java.util.regex.Pattern;

/**
 * Decides which topics a device may publish to and subscribe to: its own namespace only. Every path that
 * publishes on a device's behalf (PUBLISH, the Will message) goes through {@link #publish}.
 *
 * <ul>
 *   <li>publish: {@code devices/{own id}/telemetry}, {@code events}, {@code config/reported} and
 *       {@code commands/{commandId}/result}; never retained, never with wildcards;</li>
 *   <li>subscribe: exactly {@code devices/{own id}/config/desired}, {@code commands} and {@code firmware};
 *       no wildcard filters at all (a device has nothing to discover).</li>
 * </ul>
 */
public final class TopicAuthorizer {
    private static final Pattern COMMAND_ID = Pattern.compile("[A-Za-z0-9_-]{1,64}");

    /** The outcome: which kind of message this is, or why it is refused. Never null. */
    public sealed interface Decision {
        record Allowed(String kind) implements Decision {
        }

        record Declined(String reason) implements Decision {
        }
    }

    private TopicAuthorizer() {
    }

    public static Decision publish(DevicePrincipal device, String topic, boolean retain) {
        if (topic == null || topic.isEmpty()) {
            return new Decision.Declined("empty topic");
        }
        if (topic.indexOf('+') >= 0 || topic.indexOf('#') >= 0) {
            return new Decision.Declined("wildcard in a publish topic");
        }
        if (retain) {
            return new Decision.Declined("retained messages from devices are not accepted");
        }
        String own = "devices/" + device.device().value() + "/";
        if (!topic.startsWith(own)) {
            return new Decision.Declined("topic outside the device's own namespace");
        }
        String rest = topic.substring(own.length());
        switch (rest) {
            case "telemetry":
                return new Decision.Allowed("telemetry");
            case "events":
                return new Decision.Allowed("events");
            case "config/reported":
                return new Decision.Allowed("config-reported");
            default:
                break;
        }
        if (rest.startsWith("commands/") && rest.endsWith("/result")) {
            String id = rest.substring("commands/".length(), rest.length() - "/result".length());
            if (COMMAND_ID.matcher(id).matches()) {
                return new Decision.Allowed("command-result");
            }
        }
        return new Decision.Declined("the device may not publish to this topic");
    }

    public static Decision subscribe(DevicePrincipal device, String filter) {
        if (filter == null || filter.isEmpty()) {
            return new Decision.Declined("empty topic filter");
        }
        if (filter.indexOf('+') >= 0 || filter.indexOf('#') >= 0) {
            return new Decision.Declined("wildcard topic filters are not allowed");
        }
        String own = "devices/" + device.device().value() + "/";
        if (!filter.startsWith(own)) {
            return new Decision.Declined("topic outside the device's own namespace");
        }
        String rest = filter.substring(own.length());
        return switch (rest) {
            case "config/desired", "commands", "firmware" -> new Decision.Allowed(rest);
            default -> new Decision.Declined("the device may not subscribe to this topic");
        };
    }
}
