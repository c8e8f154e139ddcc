package dev.bulwark.server.ingress;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import dev.bulwark.protocol.DeviceTopic;
import dev.bulwark.server.command.CommandService;
import dev.bulwark.server.device.DevicePrincipal;
import dev.bulwark.server.shadow.ConfigService;
import dev.bulwark.server.store.Database;

/**
 * The control-plane routes: reported configuration ({@code {...}}) and command results
 * ({@code {"status":"succeeded"|"failed","result":...}}). {@link #object} and {@link #check} check a payload on the caller's thread;
 * {@link #apply} runs on a worker thread after the message's commit and syncs the embedded database before the
 * acknowledgement, as telemetry is synced.
 */
final class ControlPlane {
    private static final ObjectMapper JSON = new ObjectMapper();

    private final ConfigService config;
    private final CommandService commands;
    private final Database db;

    ControlPlane(ConfigService config, CommandService commands, Database db) {
        this.config = config;
        this.commands = commands;
        this.db = db;
    }

    /** The payload as a JSON object, or null when it is not one. */
    static JsonNode object(byte[] payload) {
        try {
            JsonNode json = JSON.readTree(payload);
            return json != null && json.isObject() ? json : null;
        } catch (java.io.IOException e) {
            return null;
        }
    }

    /** Null when {@code doc} (parsed by {@link #object}) fits {@code route}: a JSON object of at most {@link ConfigService#MAX_REPORTED} bytes. */
    static Admission.Refused check(Route route, JsonNode doc, int length) {
        if (doc == null) {
            return new Admission.Refused(Admission.Reason.PAYLOAD_INVALID, route.kind() + " must be a JSON object");
        }
        if (route == Route.COMMAND_RESULT) {
            String status = doc.path("status").asText("");
            if (!status.equals("succeeded") && !status.equals("failed")) {
                return new Admission.Refused(Admission.Reason.PAYLOAD_INVALID,
                        "a command result needs \"status\": \"succeeded\" or \"failed\"");
            }
        }
        if (length > ConfigService.MAX_REPORTED) {
            return new Admission.Refused(Admission.Reason.PAYLOAD_TOO_LARGE,
                    "a reported configuration or command result is at most " + ConfigService.MAX_REPORTED + " bytes");
        }
        return null;
    }

    /**
     * Applies a committed document (worker thread only); false when a command result names no open command of
     * this device (unknown, finished or expired).
     */
    boolean apply(DevicePrincipal device, DeviceTopic.Upstream topic, JsonNode doc) {
        boolean applied;
        if (topic instanceof DeviceTopic.CommandResult result) {
            applied = commands.complete(device.tenant(), device.device(), result.commandId(),
                    doc.get("status").asText().equals("succeeded"), doc.get("result"));
        } else {
            config.report(device.tenant(), device.device(), doc);
            applied = true;
        }
        db.syncCommitted(); // the embedded database: on disk before the acknowledgement, like telemetry
        return applied;
    }
}
