package dev.bulwark.server.command;

import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ObjectNode;
import dev.bulwark.protocol.Topics;
import dev.bulwark.server.core.Views;
import dev.bulwark.server.device.DeviceLink;
import java.nio.charset.StandardCharsets;
import java.util.Objects;

/**
 * Commands delivered on this node's device link, at QoS 1. Payload to the device:
 * {@code {"id","name","params","expiresAt"}}.
 */
public final class LocalCommandDelivery implements CommandDelivery {
    private static final ObjectMapper JSON = new ObjectMapper();
    private final DeviceLink link;

    public LocalCommandDelivery(DeviceLink link) {
        this.link = Objects.requireNonNull(link, "link");
    }

    @Override
    public boolean send(Command c, Runnable onDelivered) {
        ObjectNode msg = JSON.createObjectNode();
        msg.put("id", c.id());
        msg.put("name", c.name());
        msg.set("params", c.params());
        msg.put("expiresAt", Views.time(c.expiresMs()));
        return link.send(c.tenant(), c.device(), Topics.commands(c.device()), msg.toString().getBytes(StandardCharsets.UTF_8), onDelivered);
    }
}
