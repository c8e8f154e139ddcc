package dev.bulwark.server.command;

import com.fasterxml.jackson.databind.JsonNode;
import dev.bulwark.protocol.DeviceId;
import dev.bulwark.protocol.TenantId;

/** A stored command to one device; {@code result} is the device's answer, opened (null until it answered). */
public record Command(TenantId tenant, String id, DeviceId device, String name, JsonNode params, CommandState state,
                      long createdMs, long expiresMs, Long deliveredMs, Long completedMs, JsonNode result, String createdBy) {
}
