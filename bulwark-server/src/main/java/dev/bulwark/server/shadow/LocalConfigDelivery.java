package dev.bulwark.server.shadow;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import dev.bulwark.protocol.DeviceId;
import dev.bulwark.protocol.TenantId;
import dev.bulwark.protocol.Topics;
import dev.bulwark.server.device.DeviceLink;
import java.nio.charset.StandardCharsets;
import java.util.Objects;

/** Desired configurations sent on this node's device link, at QoS 1. Payload: {@code {"version": n, "desired": {...}}}. */
public final class LocalConfigDelivery implements ConfigDelivery {
    private final DeviceLink link;

    public LocalConfigDelivery(DeviceLink link) {
        this.link = Objects.requireNonNull(link, "link");
    }

    @Override
    public boolean push(TenantId tenant, DeviceId device, JsonNode desired, long version) {
        ObjectNode msg = ModelStore.JSON.createObjectNode();
        msg.put("version", version);
        msg.set("desired", desired);
        return link.send(tenant, device, Topics.configDesired(device), msg.toString().getBytes(StandardCharsets.UTF_8), () -> { });
    }
}
