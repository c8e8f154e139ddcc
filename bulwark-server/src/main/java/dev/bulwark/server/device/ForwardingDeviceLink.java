package dev.bulwark.server.device;

import dev.bulwark.protocol.DeviceId;
import dev.bulwark.protocol.TenantId;
import java.util.concurrent.atomic.AtomicReference;

/**
 * The device link of this node, handed to the services that push to devices when they are built and bound
 * once to the transport (the MQTT listener) after it is built: the services need the link at construction,
 * and the listener needs the services. Until it is bound nothing is connected, so every send returns false
 * (the message stays queued where the caller keeps it). Binding twice is an error: the wiring is set once.
 */
public final class ForwardingDeviceLink implements DeviceLink {
    private final AtomicReference<DeviceLink> target = new AtomicReference<>();

    /** Binds the transport; throws when one is already bound. */
    public void bind(DeviceLink transport) {
        if (transport == null || !target.compareAndSet(null, transport)) {
            throw new IllegalStateException("the device link is bound once, to one transport");
        }
    }

    @Override
    public boolean send(TenantId tenant, DeviceId device, String topic, byte[] payload, Runnable onAck) {
        DeviceLink t = target.get();
        return t != null && t.send(tenant, device, topic, payload, onAck);
    }
}
