package dev.bulwark.server.device;

import dev.bulwark.protocol.DeviceId;
import dev.bulwark.protocol.TenantId;

/**
 * Sends a message to a connected device on one of the topics it subscribed to. Implemented by the MQTT
 * endpoint; services that push to devices (configuration, commands) depend on this, not on MQTT.
 */
public interface DeviceLink {

    /**
     * Sends {@code payload} at QoS 1 to the device's {@code topic} if the device is connected to this node
     * and subscribed to it; {@code onAck} runs (on an event loop, must not block) when the device
     * acknowledges. Returns false when the message could not be sent now.
     */
    boolean send(TenantId tenant, DeviceId device, String topic, byte[] payload, Runnable onAck);

    DeviceLink NONE = (t, d, topic, p, ack) -> false;
}
