package dev.bulwark.server.api;

import static dev.bulwark.server.identity.Role.AUDITOR;
import static dev.bulwark.server.identity.Role.FIRMWARE_PUBLISHER;
import static dev.bulwark.server.identity.Role.FLEET_OPERATOR;
import static dev.bulwark.server.identity.Role.SECURITY_ANALYST;
import static dev.bulwark.server.identity.Role.TENANT_ADMIN;

import com.fasterxml.jackson.databind.JsonNode;
import dev.bulwark.protocol.firmware.Canonical;
import dev.bulwark.protocol.firmware.FirmwareMetadata;
import dev.bulwark.protocol.firmware.ReleaseKeys;
import dev.bulwark.server.core.Clock;
import dev.bulwark.server.core.Refusal;
import dev.bulwark.server.core.Views;
import dev.bulwark.server.firmware.FirmwareService;
import dev.bulwark.server.firmware.RolloutService;
import dev.bulwark.server.http.ApiRoute;
import dev.bulwark.server.http.Call;
import dev.bulwark.server.http.Response;
import java.util.Base64;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/** Firmware roots, releases and rollouts over REST. */
public final class FirmwareRoutes {
    static final int MAX_IMAGE_BODY = 48 * 1024 * 1024;
    private final Clock clock;
    private final FirmwareService firmware;
    private final RolloutService rollouts;

    public FirmwareRoutes(Clock clock, FirmwareService firmware, RolloutService rollouts) {
        this.clock = clock;
        this.firmware = firmware;
        this.rollouts = rollouts;
    }

    /** An upload: the signed targets envelope and the image (base64). */
    public record Upload(JsonNode targets, String image) {
    }

    /** A new rollout. */
    public record NewRollout(String release, List<String> devices, int[] stages, Integer maxFailurePercent) {
    }

    public List<ApiRoute> routes() {
        return List.of(
                ApiRoute.get("/api/v1/firmware/timestamp-key", "getFirmwareTimestampKey")
                        .summary("The server's online timestamp key, to list in the tenant's root (timestamp role)")
                        .roles(TENANT_ADMIN, FIRMWARE_PUBLISHER).handle(call -> Response.ok(Map.of("keyid", firmware.timestampKeyId(),
                                "public", Base64.getEncoder().encodeToString(ReleaseKeys.raw(firmware.timestampKey()))))),
                ApiRoute.put("/api/v1/firmware/root", "setFirmwareRoot")
                        .summary("Set the tenant's first firmware root, or rotate it (signed by the current root's threshold)")
                        .roles(TENANT_ADMIN).audit("firmware.root.set").body("{\"signed\":{\"type\":\"root\"},\"signatures\":[]}")
                        .handle(this::setRoot),
                ApiRoute.get("/api/v1/firmware/root", "getFirmwareRoot").summary("The tenant's current firmware root")
                        .roles(TENANT_ADMIN, FIRMWARE_PUBLISHER, FLEET_OPERATOR, AUDITOR, SECURITY_ANALYST).handle(this::getRoot),
                ApiRoute.post("/api/v1/firmware", "uploadFirmware")
                        .summary("Upload a release: signed targets meeting the root's threshold, and the image they describe")
                        .roles(FIRMWARE_PUBLISHER).audit("firmware.upload").bodyLimit(MAX_IMAGE_BODY)
                        .body("{\"targets\":{\"signed\":{\"type\":\"targets\"},\"signatures\":[]},\"image\":\"<base64>\"}")
                        .handle(this::upload),
                ApiRoute.get("/api/v1/firmware", "listFirmware").summary("The tenant's releases")
                        .roles(TENANT_ADMIN, FIRMWARE_PUBLISHER, FLEET_OPERATOR, AUDITOR, SECURITY_ANALYST).handle(this::list),
                ApiRoute.get("/api/v1/firmware/{releaseId}", "getFirmware").summary("One release and its signed targets")
                        .roles(TENANT_ADMIN, FIRMWARE_PUBLISHER, FLEET_OPERATOR, AUDITOR, SECURITY_ANALYST).handle(this::get),
                ApiRoute.post("/api/v1/rollouts", "createRollout")
                        .summary("Roll a release out to its model's devices (or a group of them) in stages, canary first")
                        .roles(TENANT_ADMIN, FIRMWARE_PUBLISHER, FLEET_OPERATOR).audit("rollout.create")
                        .body("{\"release\":\"fw-0123456789abcdef\",\"stages\":[5,25,100],\"maxFailurePercent\":10}").handle(this::create),
                ApiRoute.get("/api/v1/rollouts", "listRollouts").summary("The tenant's rollouts")
                        .roles(TENANT_ADMIN, FIRMWARE_PUBLISHER, FLEET_OPERATOR, AUDITOR, SECURITY_ANALYST).handle(this::listRollouts),
                ApiRoute.get("/api/v1/rollouts/{rolloutId}", "getRollout").summary("A rollout with every device's install report")
                        .roles(TENANT_ADMIN, FIRMWARE_PUBLISHER, FLEET_OPERATOR, AUDITOR, SECURITY_ANALYST).handle(this::getRollout),
                control("advance", TENANT_ADMIN, FIRMWARE_PUBLISHER, FLEET_OPERATOR),
                control("pause", TENANT_ADMIN, FIRMWARE_PUBLISHER, FLEET_OPERATOR, SECURITY_ANALYST),
                control("resume", TENANT_ADMIN, FIRMWARE_PUBLISHER, FLEET_OPERATOR),
                control("abort", TENANT_ADMIN, FIRMWARE_PUBLISHER, FLEET_OPERATOR, SECURITY_ANALYST));
    }

    private ApiRoute control(String action, dev.bulwark.server.identity.Role first, dev.bulwark.server.identity.Role... rest) {
        return ApiRoute.post("/api/v1/rollouts/{rolloutId}/" + action, action + "Rollout").summary(action + " a rollout")
                .roles(first, rest).audit("rollout." + action).handle(call -> {
                    String id = rolloutId(call);
                    call.target("rollout:" + id);
                    var r = call.tx(h -> rollouts.control(h, call.tenant(), id, action, "by " + call.principal().actor()));
                    return Response.ok(view(r, null));
                });
    }

    private Response setRoot(Call call) {
        byte[] body = call.rawJson();
        call.target("firmware-root");
        FirmwareMetadata.Root root = call.tx(h -> firmware.setRoot(h, call.tenant(), body, call.principal().actor(), clock.nowMs()));
        Map<String, Object> out = new LinkedHashMap<>();
        out.put("version", root.version());
        out.put("expires", root.expires().toString());
        out.put("releaseKeys", root.release().keyids());
        out.put("threshold", root.release().threshold());
        out.put("timestampKeys", root.timestamp().keyids());
        return Response.ok(out);
    }

    private Response getRoot(Call call) {
        var env = call.read(h -> firmware.currentRoot(h, call.tenant())).orElseThrow(Refusal::notFound);
        return Response.ok(Canonical.parse(env.toJson()));
    }

    /** Strict like the API's mapper, but with room for an image in a string. */
    private static final com.fasterxml.jackson.databind.ObjectMapper UPLOAD = com.fasterxml.jackson.databind.json.JsonMapper.builder()
            .enable(com.fasterxml.jackson.databind.DeserializationFeature.FAIL_ON_UNKNOWN_PROPERTIES)
            .enable(com.fasterxml.jackson.databind.DeserializationFeature.FAIL_ON_TRAILING_TOKENS)
            .enable(com.fasterxml.jackson.core.StreamReadFeature.STRICT_DUPLICATE_DETECTION)
            .build();

    static {
        UPLOAD.getFactory().setStreamReadConstraints(com.fasterxml.jackson.core.StreamReadConstraints.builder()
                .maxNestingDepth(32).maxStringLength(MAX_IMAGE_BODY).maxNumberLength(32).build());
    }

    private Response upload(Call call) {
        Upload u;
        try {
            u = UPLOAD.readValue(call.rawJson(), Upload.class);
        } catch (java.io.IOException e) {
            throw new Refusal(Refusal.Kind.MALFORMED, "the body is {\"targets\": <signed envelope>, \"image\": \"<base64>\"}");
        }
        if (u == null || u.targets() == null || u.image() == null) {
            throw Refusal.invalid("give 'targets' (the signed envelope) and 'image' (base64)");
        }
        byte[] image;
        try {
            image = Base64.getDecoder().decode(u.image());
        } catch (IllegalArgumentException e) {
            throw Refusal.invalid("image must be base64");
        }
        byte[] targets;
        try {
            targets = Canonical.encode(u.targets());
        } catch (dev.bulwark.protocol.firmware.FirmwareRejected e) {
            throw Refusal.invalid("targets refused (" + e.reason() + "): " + e.getMessage());
        }
        call.target("firmware");
        var r = call.tx(h -> firmware.upload(h, call.tenant(), targets, image, call.principal().actor(), clock.nowMs()),
                "release upload");
        return Response.created(view(r));
    }

    private Response list(Call call) {
        return Response.ok(Map.of("items", call.read(h -> firmware.releases(h, call.tenant())).stream().map(FirmwareRoutes::view)
                .toList()));
    }

    private Response get(Call call) {
        String id = releaseId(call.path("releaseId"));
        var r = call.read(h -> firmware.release(h, call.tenant(), id)).orElseThrow(Refusal::notFound);
        Map<String, Object> out = view(r);
        out.put("targets", Canonical.parse(r.targets().getBytes(java.nio.charset.StandardCharsets.UTF_8)));
        return Response.ok(out);
    }

    private Response create(Call call) {
        NewRollout req = call.body(NewRollout.class);
        if (req.release() == null) {
            throw Refusal.invalid("release is required");
        }
        String rid = releaseId(req.release());
        call.target("release:" + rid);
        var r = call.tx(h -> {
            var release = firmware.release(h, call.tenant(), rid).orElseThrow(() -> Refusal.invalid("no such release"));
            return rollouts.create(h, call.tenant(), release, req.devices(), req.stages() == null ? new int[] {5, 25, 100} : req.stages(),
                    req.maxFailurePercent() == null ? 10 : req.maxFailurePercent(), call.principal().actor());
        });
        return Response.created(view(r, null));
    }

    private Response listRollouts(Call call) {
        return Response.ok(Map.of("items", call.read(h -> rollouts.list(h, call.tenant())).stream().map(r -> view(r, null)).toList()));
    }

    private Response getRollout(Call call) {
        String id = rolloutId(call);
        return call.read(h -> {
            var r = rollouts.find(h, call.tenant(), id).orElseThrow(Refusal::notFound);
            return Response.ok(view(r, rollouts.devices(h, call.tenant(), id)));
        });
    }

    private static String rolloutId(Call call) {
        return call.path("rolloutId", v -> {
            if (!v.matches("ro-[0-9a-f]{16}")) {
                throw new IllegalArgumentException();
            }
            return v;
        });
    }

    private static String releaseId(String v) {
        if (v == null || !v.matches("fw-[0-9a-f]{16}")) {
            throw Refusal.notFound();
        }
        return v;
    }

    static Map<String, Object> view(FirmwareService.Release r) {
        Map<String, Object> m = new LinkedHashMap<>();
        m.put("id", r.id());
        m.put("model", r.model());
        m.put("version", r.version());
        m.put("versionNumber", r.versionNumber());
        m.put("sha256", r.sha256());
        m.put("length", r.length());
        m.put("created", Views.time(r.createdMs()));
        m.put("createdBy", r.createdBy());
        return m;
    }

    static Map<String, Object> view(RolloutService.Rollout r, Map<String, Map<String, Object>> devices) {
        Map<String, Object> m = new LinkedHashMap<>();
        m.put("id", r.id());
        m.put("release", r.releaseId());
        m.put("model", r.model());
        m.put("devices", r.group());
        m.put("stages", r.stages());
        m.put("stage", r.stage());
        m.put("percent", r.stages()[r.stage()]);
        m.put("state", r.state().wireName());
        m.put("maxFailurePercent", r.maxFailurePercent());
        m.put("reason", r.reason());
        m.put("created", Views.time(r.createdMs()));
        m.put("updated", Views.time(r.updatedMs()));
        if (devices != null) {
            m.put("reports", devices);
            Map<String, Long> counts = new LinkedHashMap<>();
            devices.values().forEach(d -> counts.merge(String.valueOf(d.get("state")), 1L, Long::sum));
            m.put("counts", counts);
        }
        return m;
    }
}
