package dev.bulwark.server.device;

import dev.bulwark.protocol.DeviceId;
import dev.bulwark.protocol.TenantId;

/**
 * An authenticated device.
 *
 * @param credential which credential it used: {@code certificate:<issuer>/<serial>} or {@code token:<id>}
 */
public record DevicePrincipal(TenantId tenant, DeviceId device, String credential) {
    public String describe() {
        return "device:" + tenant + "/" + device + " " + credential;
    }
}
