package dev.bulwark.server.api;

import static dev.bulwark.server.identity.Role.AUDITOR;
import static dev.bulwark.server.identity.Role.FLEET_OPERATOR;
import static dev.bulwark.server.identity.Role.SECURITY_ANALYST;
import static dev.bulwark.server.identity.Role.TENANT_ADMIN;

import com.fasterxml.jackson.databind.JsonNode;
import dev.bulwark.protocol.DeviceId;
import dev.bulwark.protocol.IdGrammar;
import dev.bulwark.protocol.InvalidIdException;
import dev.bulwark.protocol.ModelId;
import dev.bulwark.protocol.TenantId;
import dev.bulwark.server.command.Command;
import dev.bulwark.server.command.CommandService;
import dev.bulwark.server.command.CommandState;
import dev.bulwark.server.core.Clock;
import dev.bulwark.server.core.Refusal;
import dev.bulwark.server.core.Views;
import dev.bulwark.server.crypto.Secrets;
import dev.bulwark.server.device.DeviceStore;
import dev.bulwark.server.http.ApiRoute;
import dev.bulwark.server.http.Call;
import dev.bulwark.server.http.Response;
import dev.bulwark.server.shadow.JsonSchemas;
import dev.bulwark.server.shadow.ModelStore;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/** Commands: only names on the device model's allowlist, parameters validated against their schema. */
public final class CommandRoutes {
    static final int MAX_TTL_SECONDS = 30 * 86_400;

    record CreateCommand(String name, JsonNode params, Integer ttlSeconds) {
    }

    private final DeviceStore devices;
    private final Clock clock;
    private final ModelStore models;
    private final CommandService commands;

    public CommandRoutes(DeviceStore devices, Clock clock, ModelStore models, CommandService commands) {
        this.devices = devices;
        this.clock = clock;
        this.models = models;
        this.commands = commands;
    }

    public List<ApiRoute> routes() {
        return List.of(
                ApiRoute.post("/api/v1/devices/{deviceId}/commands", "createCommand")
                        .summary("Send a command to a device now, or queue it until it connects or the command expires")
                        .roles(TENANT_ADMIN, FLEET_OPERATOR).audit("device.command.create")
                        .body("{\"name\":\"reboot\",\"params\":{},\"ttlSeconds\":600}").handle(this::create),
                ApiRoute.get("/api/v1/devices/{deviceId}/commands", "listCommands").summary("A device's commands, newest first")
                        .roles(TENANT_ADMIN, FLEET_OPERATOR, SECURITY_ANALYST, AUDITOR).query("limit").handle(this::list),
                ApiRoute.get("/api/v1/devices/{deviceId}/commands/{commandId}", "getCommand").summary("One command and its state")
                        .roles(TENANT_ADMIN, FLEET_OPERATOR, SECURITY_ANALYST, AUDITOR).handle(this::get));
    }

    private Response create(Call call) {
        TenantId tenant = call.tenant();
        DeviceId device = call.path("deviceId", DeviceId::of);
        call.read(h -> devices.require(h, tenant, device));
        CreateCommand req = call.body(CreateCommand.class);
        String name;
        try {
            name = IdGrammar.lowerName("name", req.name());
        } catch (InvalidIdException e) {
            throw Refusal.invalid(e.getMessage());
        }
        JsonNode params = req.params() == null ? com.fasterxml.jackson.databind.node.JsonNodeFactory.instance.objectNode() : req.params();
        int ttl = req.ttlSeconds() == null ? 600 : req.ttlSeconds();
        if (ttl < 1 || ttl > MAX_TTL_SECONDS) {
            throw Refusal.invalid("ttlSeconds must be between 1 and " + MAX_TTL_SECONDS);
        }
        long now = clock.nowMs();
        String id = "cmd-" + Secrets.randomHex(10);
        call.target("device:" + device + " command:" + id);
        Command c = call.tx(h -> {
            var d = devices.lock(h, tenant, device);
            JsonNode schema = models.commandSchema(h, tenant, ModelId.of(d.model()), name)
                    .orElseThrow(() -> Refusal.invalid("command '" + name + "' is not on the allowlist of model '" + d.model() + "'"));
            JsonSchemas.validate(JsonSchemas.compile(schema), params, "params");
            var cmd = new Command(tenant, id, device, name, params, CommandState.QUEUED, now,
                    now + ttl * 1000L, null, null, null, call.principal().actor());
            commands.insert(h, cmd);
            return cmd;
        }, "command " + name);
        commands.deliver(c);
        return Response.created(view(c));
    }

    private Response list(Call call) {
        TenantId tenant = call.tenant();
        DeviceId device = call.path("deviceId", DeviceId::of);
        int limit = call.queryInt("limit", 100, 1, 1000);
        return Response.ok(Map.of("items", call.read(h -> {
            devices.require(h, tenant, device);
            return commands.list(h, tenant, device, limit);
        }).stream().map(CommandRoutes::view).toList()));
    }

    private Response get(Call call) {
        TenantId tenant = call.tenant();
        DeviceId device = call.path("deviceId", DeviceId::of);
        String id = call.path("commandId");
        return Response.ok(view(call.read(h -> {
            devices.require(h, tenant, device);
            return commands.find(h, tenant, device, id).orElseThrow(Refusal::notFound);
        })));
    }

    static Map<String, Object> view(Command c) {
        Map<String, Object> m = new LinkedHashMap<>();
        m.put("id", c.id());
        m.put("name", c.name());
        m.put("params", c.params());
        m.put("state", c.state().wireName());
        m.put("createdAt", Views.time(c.createdMs()));
        m.put("expiresAt", Views.time(c.expiresMs()));
        m.put("deliveredAt", Views.time(c.deliveredMs()));
        m.put("completedAt", Views.time(c.completedMs()));
        m.put("result", c.result());
        if (c.state() == CommandState.EXPIRED) {
            // the explicit end of a command that never reached the device, or that it did not answer in time
            m.put("expiredBecause", c.deliveredMs() == null ? "not-delivered" : "no-result");
        }
        m.put("createdBy", c.createdBy());
        return m;
    }
}
