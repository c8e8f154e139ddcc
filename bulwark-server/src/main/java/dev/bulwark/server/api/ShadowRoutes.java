package dev.bulwark.server.api;

import static dev.bulwark.server.identity.Role.AUDITOR;
import static dev.bulwark.server.identity.Role.FLEET_OPERATOR;
import static dev.bulwark.server.identity.Role.SECURITY_ANALYST;
import static dev.bulwark.server.identity.Role.TENANT_ADMIN;

import com.fasterxml.jackson.databind.JsonNode;
import dev.bulwark.protocol.DeviceId;
import dev.bulwark.protocol.IdGrammar;
import dev.bulwark.protocol.ModelId;
import dev.bulwark.protocol.TenantId;
import dev.bulwark.server.core.Clock;
import dev.bulwark.server.core.Refusal;
import dev.bulwark.server.core.Views;
import dev.bulwark.server.device.DeviceStore;
import dev.bulwark.server.http.ApiRoute;
import dev.bulwark.server.http.Call;
import dev.bulwark.server.http.Response;
import dev.bulwark.server.shadow.ConfigService;
import dev.bulwark.server.shadow.JsonSchemas;
import dev.bulwark.server.shadow.ModelStore;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/** Device models (configuration schema, command allowlist) and device configuration. */
public final class ShadowRoutes {
    record AllowCommand(JsonNode paramsSchema) {
    }

    record CreateModel(String id) {
    }

    private final DeviceStore devices;
    private final Clock clock;
    private final ModelStore models;
    private final ConfigService config;

    public ShadowRoutes(DeviceStore devices, Clock clock, ModelStore models, ConfigService config) {
        this.devices = devices;
        this.clock = clock;
        this.models = models;
        this.config = config;
    }

    public List<ApiRoute> routes() {
        return List.of(
                ApiRoute.post("/api/v1/models", "createModel").summary("Register a device model of the caller's tenant")
                        .roles(TENANT_ADMIN).audit("model.create").body("{\"id\":\"thermo\"}").handle(this::createModel),
                ApiRoute.get("/api/v1/models", "listModels").summary("The tenant's device models")
                        .roles(TENANT_ADMIN, FLEET_OPERATOR, SECURITY_ANALYST, AUDITOR).handle(this::listModels),
                ApiRoute.put("/api/v1/models/{model}/config-schema", "setConfigSchema")
                        .summary("Set the JSON Schema that desired configurations of a model must match")
                        .roles(TENANT_ADMIN).audit("model.config-schema.set")
                        .body("{\"type\":\"object\",\"properties\":{\"interval\":{\"type\":\"integer\",\"minimum\":1}},\"additionalProperties\":false}")
                        .handle(this::setSchema),
                ApiRoute.put("/api/v1/models/{model}/commands/{command}", "allowCommand")
                        .summary("Put a command on a model's allowlist, with the JSON Schema of its parameters")
                        .roles(TENANT_ADMIN).audit("model.command.allow")
                        .body("{\"paramsSchema\":{\"type\":\"object\",\"additionalProperties\":false}}").handle(this::allowCommand),
                ApiRoute.delete("/api/v1/models/{model}/commands/{command}", "removeCommand")
                        .summary("Take a command off a model's allowlist").roles(TENANT_ADMIN).audit("model.command.remove")
                        .handle(this::removeCommand),
                ApiRoute.get("/api/v1/models/{model}", "getModel").summary("A model's configuration schema and command allowlist")
                        .roles(TENANT_ADMIN, FLEET_OPERATOR, SECURITY_ANALYST, AUDITOR).handle(this::getModel),
                ApiRoute.put("/api/v1/devices/{deviceId}/config", "setDesiredConfig")
                        .summary("Set the desired configuration of a device (validated against its model's schema)")
                        .roles(TENANT_ADMIN, FLEET_OPERATOR).audit("device.config.set").body("{\"interval\":60}")
                        .handle(this::setDesired),
                ApiRoute.get("/api/v1/devices/{deviceId}/config", "getConfig").summary("Desired and reported configuration and their delta")
                        .roles(TENANT_ADMIN, FLEET_OPERATOR, SECURITY_ANALYST, AUDITOR).handle(this::getConfig));
    }

    private Response createModel(Call call) {
        TenantId tenant = call.tenant();
        CreateModel req = call.body(CreateModel.class);
        ModelId model = dev.bulwark.server.api.IdentityRoutes.parse(() -> ModelId.of(req.id()));
        call.target("model:" + model);
        call.tx(h -> {
            models.create(h, tenant, model, clock.nowMs());
            return null;
        });
        return Response.created(Map.of("id", model.value()));
    }

    private Response listModels(Call call) {
        TenantId tenant = call.tenant();
        return Response.ok(Map.of("items", call.read(h -> models.list(h, tenant)).stream().map(m -> Map.of("id", m)).toList()));
    }

    private Response setSchema(Call call) {
        TenantId tenant = call.tenant();
        ModelId model = call.path("model", ModelId::of);
        call.read(h -> {
            if (!models.exists(h, tenant, model)) {
                throw Refusal.notFound();
            }
            return null;
        });
        JsonNode schema = call.body(JsonNode.class);
        JsonSchemas.compile(schema);
        call.target("model:" + model);
        call.tx(h -> {
            models.lock(h, tenant, model);
            models.setConfigSchema(h, tenant, model, schema, clock.nowMs());
            return null;
        });
        return Response.ok(Map.of("model", model.value(), "configSchema", schema));
    }

    private Response allowCommand(Call call) {
        TenantId tenant = call.tenant();
        ModelId model = call.path("model", ModelId::of);
        String name = call.path("command", v -> IdGrammar.lowerName("command", v));
        call.read(h -> {
            if (!models.exists(h, tenant, model)) {
                throw Refusal.notFound();
            }
            return null;
        });
        AllowCommand req = call.body(AllowCommand.class);
        JsonSchemas.compile(req.paramsSchema());
        call.target("model:" + model + " command:" + name);
        call.tx(h -> {
            models.lock(h, tenant, model);
            models.allowCommand(h, tenant, model, name, req.paramsSchema(), clock.nowMs());
            return null;
        });
        return Response.ok(Map.of("model", model.value(), "command", name, "paramsSchema", req.paramsSchema()));
    }

    private Response removeCommand(Call call) {
        TenantId tenant = call.tenant();
        ModelId model = call.path("model", ModelId::of);
        String name = call.path("command", v -> IdGrammar.lowerName("command", v));
        call.target("model:" + model + " command:" + name);
        call.tx(h -> {
            if (!models.removeCommand(h, tenant, model, name)) {
                throw Refusal.notFound();
            }
            return null;
        });
        return Response.noContent();
    }

    private Response getModel(Call call) {
        TenantId tenant = call.tenant();
        ModelId model = call.path("model", ModelId::of);
        return Response.ok(call.read(h -> {
            if (!models.exists(h, tenant, model)) {
                throw Refusal.notFound();
            }
            Map<String, Object> out = new LinkedHashMap<>();
            out.put("id", model.value());
            out.put("configSchema", models.configSchema(h, tenant, model).orElse(null));
            out.put("commands", models.commands(h, tenant, model));
            return out;
        }));
    }

    private Response setDesired(Call call) {
        TenantId tenant = call.tenant();
        DeviceId device = call.path("deviceId", DeviceId::of);
        call.read(h -> devices.require(h, tenant, device));
        JsonNode desired = call.body(JsonNode.class);
        if (!desired.isObject()) {
            throw Refusal.invalid("the desired configuration must be a JSON object");
        }
        call.target("device:" + device);
        long version = call.tx(h -> {
            var d = devices.lock(h, tenant, device);
            models.configSchema(h, tenant, ModelId.of(d.model())).ifPresent(schema ->
                    JsonSchemas.validate(JsonSchemas.compile(schema), desired, "the desired configuration"));
            return config.setDesired(h, tenant, device, desired);
        });
        boolean sent = config.push(tenant, device, desired, version);
        Map<String, Object> out = new LinkedHashMap<>();
        out.put("desired", desired);
        out.put("version", version);
        out.put("sentToDevice", sent);
        return Response.ok(out);
    }

    private Response getConfig(Call call) {
        TenantId tenant = call.tenant();
        DeviceId device = call.path("deviceId", DeviceId::of);
        return Response.ok(call.read(h -> {
            devices.require(h, tenant, device);
            var c = config.find(h, tenant, device).orElse(new ConfigService.Config(null, 0, null, null, null));
            Map<String, Object> out = new LinkedHashMap<>();
            out.put("desired", c.desired());
            out.put("desiredVersion", c.desiredVersion());
            out.put("desiredAt", Views.time(c.desiredMs()));
            out.put("reported", c.reported());
            out.put("reportedAt", Views.time(c.reportedMs()));
            out.put("delta", c.delta());
            return out;
        }));
    }
}
