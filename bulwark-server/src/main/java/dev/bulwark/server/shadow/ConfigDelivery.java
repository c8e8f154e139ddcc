package dev.bulwark.server.shadow;

import com.fasterxml.jackson.databind.JsonNode;
import dev.bulwark.protocol.DeviceId;
import dev.bulwark.protocol.TenantId;

/**
 * How a desired configuration reaches its device. The in-process default, {@link LocalConfigDelivery},
 * sends it on the device's session if the device is connected to this node; a clustered node replaces it
 * with one that reaches the node holding the session.
 */
public interface ConfigDelivery {

    /** Sends version {@code version} of the desired document if the device listens on {@code config/desired} now. */
    boolean push(TenantId tenant, DeviceId device, JsonNode desired, long version);
}
