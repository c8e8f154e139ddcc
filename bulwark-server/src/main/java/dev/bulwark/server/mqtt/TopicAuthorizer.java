package dev.bulwark.server.mqtt;

import dev.bulwark.protocol.DeviceNamespace;
import dev.bulwark.protocol.DeviceTopic;
import dev.bulwark.protocol.TopicParse;
import dev.bulwark.server.device.DevicePrincipal;
import dev.bulwark.server.ingress.Admission;
import dev.bulwark.server.ingress.Route;
import dev.bulwark.server.ingress.TopicAuthorization;

/**
 * Decides which topics a device may publish to and subscribe to: its own namespace only, topics parsed by
 * {@link DeviceTopic#parse}. Publishing is decided by {@link TopicAuthorization}, the step of the ingress gate
 * every path that publishes on a device's behalf goes through (PUBLISH, the Will, HTTPS); this class gives it the
 * shape of a {@link Decision} and adds subscriptions.
 *
 * <ul>
 *   <li>publish: {@code devices/{own id}/telemetry}, {@code events}, {@code config/reported} and
 *       {@code commands/{commandId}/result}; never retained, never with wildcards;</li>
 *   <li>subscribe: exactly {@code devices/{own id}/config/desired}, {@code commands} and {@code firmware};
 *       no wildcard filters at all (a device has nothing to discover).</li>
 * </ul>
 */
public final class TopicAuthorizer {

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
        DeviceNamespace own = new DeviceNamespace(device.device());
        TopicParse parsed = own.parse(topic);
        Admission.Refused refused = TopicAuthorization.publish(own, parsed, retain);
        return refused != null ? new Decision.Declined(refused.detail())
                : new Decision.Allowed(Route.of((DeviceTopic.Upstream) parsed).kind());
    }

    public static Decision subscribe(DevicePrincipal device, String filter) {
        DeviceNamespace own = new DeviceNamespace(device.device());
        TopicParse parsed = own.parse(filter);
        if (parsed instanceof TopicParse.Refused r && r.problem() == TopicParse.Problem.EMPTY) {
            return new Decision.Declined("empty topic filter");
        }
        if (parsed instanceof TopicParse.Refused r && r.problem() == TopicParse.Problem.WILDCARD) {
            return new Decision.Declined("wildcard topic filters are not allowed");
        }
        if (!own.owns(parsed)) {
            return new Decision.Declined("topic outside the device's own namespace");
        }
        if (parsed instanceof DeviceTopic.DesiredConfig) {
            return new Decision.Allowed("config/desired");
        }
        if (parsed instanceof DeviceTopic.Commands) {
            return new Decision.Allowed("commands");
        }
        if (parsed instanceof DeviceTopic.Firmware) {
            return new Decision.Allowed("firmware");
        }
        return new Decision.Declined("the device may not subscribe to this topic");
    }
}
