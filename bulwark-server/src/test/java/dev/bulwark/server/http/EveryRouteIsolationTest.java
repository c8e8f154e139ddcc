package dev.bulwark.server.http;

import static org.assertj.core.api.Assertions.assertThat;
import static org.awaitility.Awaitility.await;

import com.fasterxml.jackson.databind.JsonNode;
import dev.bulwark.server.cli.ApiClient;
import dev.bulwark.server.identity.Role;
import dev.bulwark.server.testkit.Backend;
import dev.bulwark.server.testkit.Openssl;
import dev.bulwark.server.testkit.TestServer;
import java.time.Duration;
import java.util.ArrayList;
import java.util.EnumMap;
import java.util.EnumSet;
import java.util.HashSet;
import java.util.Iterator;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.Set;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.TestInstance;
import org.junit.jupiter.params.AfterParameterizedClassInvocation;
import org.junit.jupiter.params.Parameter;
import org.junit.jupiter.params.BeforeParameterizedClassInvocation;
import org.junit.jupiter.params.ParameterizedClass;
import org.junit.jupiter.params.provider.EnumSource;

/**
 * Walks every route of the OpenAPI document the server publishes, with (a) no token, (b) a token of a
 * second tenant holding every tenant role, and (c) for each role the route does not grant, a token of
 * the first tenant holding only that role. Each time: nothing of the first tenant leaks into the
 * response and nothing of it changes. A route added later is covered without touching this test.
 */
@ParameterizedClass
@EnumSource(Backend.class)
@TestInstance(TestInstance.Lifecycle.PER_CLASS)
class EveryRouteIsolationTest {
    static final String VICTIM = "victim-co";
    static final String VICTIM_NAME = "Victim Corp Confidential";
    static final String VICTIM_DEVICE = "victim-dev-7391";
    static final String VICTIM_MODEL = "victim-model-q7";
    static final String ATTACKER = "attacker-co";
    static final String VICTIM_COMMAND = "victim-secret-cmd";
    static final List<String> TENANT_TABLES = List.of("operators", "api_tokens", "devices", "device_certificates",
            "device_tokens", "tenant_cas", "ca_challenges", "telemetry_segments", "models", "model_commands", "device_config", "commands",
            "webhooks", "enrollment_tokens", "firmware_roots", "firmware_releases", "rollouts", "rollout_devices", "owners",
            "ownership_periods", "exports", "tenant_settings");

    @Parameter
    Backend backend;

    TestServer server;
    ApiClient api;
    String victimAdmin;
    String attacker;
    final Map<Role, String> victimRoleTokens = new EnumMap<>(Role.class);
    final Map<String, String> pathValues = new java.util.HashMap<>();
    String victimOperatorTokenId;
    final Set<String> markers = new HashSet<>();
    List<Map<String, Object>> routes;

    @BeforeParameterizedClassInvocation
    void victimTenantWithOneOfEverything(Backend db) throws Exception {
        server = TestServer.start(db, b -> b.allowPrivateWebhookTargets(true));
        api = server.api();
        String admin = server.adminToken();
        assertThat(api.post("/api/v1/tenants", admin, Map.of("id", VICTIM, "name", VICTIM_NAME)).status()).isEqualTo(201);
        ApiClient.Result op = api.post("/api/v1/tenants/" + VICTIM + "/operators", admin,
                Map.of("name", "victim-admin", "roles", List.of("tenant-admin")));
        victimAdmin = op.json().get("token").asText();
        server.adoptTenantRoot(VICTIM, victimAdmin);
        victimOperatorTokenId = op.json().get("tokenId").asText();
        for (Role r : Role.TENANT_ROLES) {
            if (r != Role.OWNER) {
                victimRoleTokens.put(r, server.operator(VICTIM, "victim-" + r.wireName(), r.wireName()));
            }
        }
        // an owner of the victim tenant who owns nothing: its token holds only the owner role
        JsonNode victimOwner = api.post("/api/v1/owners", victimAdmin, Map.of("name", "Victim Owner Person")).json();
        victimRoleTokens.put(Role.OWNER, victimOwner.get("token").asText());
        victimRoleTokens.put(Role.PLATFORM_ADMIN, admin);
        server.createDevice(victimAdmin, VICTIM_DEVICE, VICTIM_MODEL);

        Openssl openssl = Openssl.inTempDir();
        String csr = openssl.p256Csr("dev", "/CN=" + VICTIM_DEVICE);
        JsonNode cert = api.post("/api/v1/devices/" + VICTIM_DEVICE + "/certificates", victimAdmin, Map.of("csr", csr)).json();
        JsonNode devToken = api.post("/api/v1/devices/" + VICTIM_DEVICE + "/tokens", victimAdmin, null).json();

        openssl.run("req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes", "-keyout", "ca.key",
                "-subj", "/CN=Victim Factory CA", "-days", "30", "-out", "ca.pem",
                "-addext", "basicConstraints=critical,CA:TRUE", "-addext", "keyUsage=critical,keyCertSign,cRLSign");
        String challenge = api.post("/api/v1/cas/challenges", victimAdmin, null).json().get("challenge").asText();
        openssl.p256Csr("pop", "/CN=" + challenge);
        openssl.run("x509", "-req", "-in", "pop.csr", "-CA", "ca.pem", "-CAkey", "ca.key", "-days", "1", "-out", "pop.pem");
        ApiClient.Result ca = api.post("/api/v1/cas", victimAdmin,
                Map.of("certificate", openssl.read("ca.pem"), "verificationCertificate", openssl.read("pop.pem")));
        assertThat(ca.status()).as(ca.body()).isEqualTo(201);

        assertThat(api.post("/api/v1/models", victimAdmin, Map.of("id", VICTIM_MODEL)).status()).isEqualTo(201);
        assertThat(api.send("PUT", "/api/v1/models/" + VICTIM_MODEL + "/config-schema", victimAdmin, "application/json",
                "{\"type\":\"object\",\"title\":\"victim-schema-title\"}".getBytes()).status()).isEqualTo(200);
        assertThat(api.send("PUT", "/api/v1/models/" + VICTIM_MODEL + "/commands/" + VICTIM_COMMAND, victimAdmin, "application/json",
                "{\"paramsSchema\":{\"type\":\"object\"}}".getBytes()).status()).isEqualTo(200);
        assertThat(api.send("PUT", "/api/v1/devices/" + VICTIM_DEVICE + "/config", victimAdmin, "application/json",
                "{\"victimSetting\":42}".getBytes()).status()).isEqualTo(200);
        JsonNode command = api.post("/api/v1/devices/" + VICTIM_DEVICE + "/commands", victimAdmin, Map.of("name", VICTIM_COMMAND)).json();

        JsonNode webhook = api.post("/api/v1/security/webhooks", victimAdmin, Map.of("url", "https://127.0.0.1:9/victim-hook")).json();
        api.post("/api/v1/devices/" + VICTIM_DEVICE + "/enrollment-tokens", victimAdmin, null);
        var ban = server.node().monitor().guard().ban("203.0.113.77", "brute-force", "brute-force on " + VICTIM + "/"
                + VICTIM_DEVICE, VICTIM, null);
        // a firmware root, a release and a rollout
        String tsKey = api.get("/api/v1/firmware/timestamp-key", victimRoleTokens.get(Role.FIRMWARE_PUBLISHER)).json().get("public").asText();
        java.security.KeyPair ka = dev.bulwark.protocol.firmware.ReleaseKeys.generate();
        java.security.KeyPair kb = dev.bulwark.protocol.firmware.ReleaseKeys.generate();
        var root = dev.bulwark.protocol.firmware.Envelope.unsigned(dev.bulwark.protocol.firmware.FirmwareMetadata.root(VICTIM, 1,
                        java.time.Instant.now().plusSeconds(86_400), List.of(ka.getPublic(), kb.getPublic()), 2,
                        List.of(dev.bulwark.protocol.firmware.ReleaseKeys.fromRaw(java.util.Base64.getDecoder().decode(tsKey)))))
                .sign(ka.getPrivate(), dev.bulwark.protocol.firmware.ReleaseKeys.keyId(ka.getPublic()))
                .sign(kb.getPrivate(), dev.bulwark.protocol.firmware.ReleaseKeys.keyId(kb.getPublic()));
        assertThat(api.send("PUT", "/api/v1/firmware/root", victimAdmin, "application/json", root.toJson()).status()).isEqualTo(200);
        byte[] fw = "victim firmware image".getBytes(java.nio.charset.StandardCharsets.UTF_8);
        var targets = dev.bulwark.protocol.firmware.Envelope.unsigned(dev.bulwark.protocol.firmware.FirmwareMetadata.targets(VICTIM,
                        VICTIM_MODEL, List.of("rev-a"), "9.9.9-victim", 9, dev.bulwark.protocol.firmware.ReleaseKeys.sha256Hex(fw), fw.length,
                        java.time.Instant.now().plusSeconds(86_400)))
                .sign(ka.getPrivate(), dev.bulwark.protocol.firmware.ReleaseKeys.keyId(ka.getPublic()))
                .sign(kb.getPrivate(), dev.bulwark.protocol.firmware.ReleaseKeys.keyId(kb.getPublic()));
        ApiClient.Result release = api.post("/api/v1/firmware", victimRoleTokens.get(Role.FIRMWARE_PUBLISHER), Map.of(
                "targets", new com.fasterxml.jackson.databind.ObjectMapper().readTree(targets.toJson()),
                "image", java.util.Base64.getEncoder().encodeToString(fw)));
        assertThat(release.status()).as(release.body()).isEqualTo(201);
        ApiClient.Result rollout = api.post("/api/v1/rollouts", victimAdmin, Map.of("release", release.json().get("id").asText()));
        assertThat(rollout.status()).as(rollout.body()).isEqualTo(201);
        pathValues.put("releaseId", release.json().get("id").asText());
        pathValues.put("rolloutId", rollout.json().get("id").asText());
        markers.addAll(List.of(release.json().get("id").asText(), rollout.json().get("id").asText(), "9.9.9-victim"));
        JsonNode owner2 = api.post("/api/v1/owners", victimAdmin, Map.of("name", "Victim Second Owner")).json();
        assertThat(api.post("/api/v1/devices/" + VICTIM_DEVICE + "/transfer", victimAdmin, Map.of("owner", owner2.get("id").asText())).status())
                .isEqualTo(200);
        pathValues.put("ownerId", owner2.get("id").asText());
        ApiClient.Result export = api.post("/api/v1/owners/" + owner2.get("id").asText() + "/export", victimAdmin, null);
        assertThat(export.status()).as(export.body()).isEqualTo(202);
        pathValues.put("exportId", export.json().get("id").asText());
        markers.add(export.json().get("id").asText());
        markers.addAll(List.of(owner2.get("id").asText(), "Victim Second Owner", "Victim Owner Person"));
        pathValues.put("webhookId", webhook.get("id").asText());
        pathValues.put("banId", ban.id());
        markers.addAll(List.of(webhook.get("id").asText(), "victim-hook", ban.id(), "203.0.113.77"));

        pathValues.put("tenant", VICTIM);
        pathValues.put("model", VICTIM_MODEL);
        pathValues.put("command", VICTIM_COMMAND);
        pathValues.put("commandId", command.get("id").asText());
        pathValues.put("deviceId", VICTIM_DEVICE);
        pathValues.put("serial", cert.get("serial").asText());
        pathValues.put("deviceTokenId", devToken.get("id").asText());
        pathValues.put("operatorTokenId", victimOperatorTokenId);
        pathValues.put("operator", "victim-admin");
        pathValues.put("caId", ca.json().get("id").asText());
        markers.addAll(List.of(VICTIM_NAME, VICTIM_DEVICE, VICTIM_MODEL, cert.get("serial").asText(),
                devToken.get("id").asText(), victimOperatorTokenId, ca.json().get("id").asText(), "Victim Factory CA",
                cert.get("fingerprintSha256").asText(), VICTIM_COMMAND, command.get("id").asText(), "victim-schema-title",
                "victimSetting"));

        attacker = server.tenantWithOperator(ATTACKER, "mallory",
                Role.TENANT_ROLES.stream().filter(r -> r != Role.OWNER).map(Role::wireName).toArray(String[]::new));
        routes = openApiRoutes();
    }

    @AfterParameterizedClassInvocation
    void stop() {
        server.close();
    }

    @Test
    void the_openapi_document_lists_every_route_the_server_serves() {
        Set<String> served = new HashSet<>();
        server.node().routes().forEach(r -> served.add(r.method() + " " + r.path()));
        Set<String> documented = new HashSet<>();
        routes.forEach(r -> documented.add(r.get("method") + " " + r.get("path")));
        assertThat(documented).isEqualTo(served);
        assertThat(routes).hasSizeGreaterThanOrEqualTo(25);
    }

    @Test
    void the_openapi_document_itself_requires_a_token() {
        assertThat(api.get("/api/openapi.json", null).status()).isEqualTo(401);
    }

    @Test
    void every_route_refuses_a_request_without_a_token_and_leaks_and_changes_nothing() {
        for (Map<String, Object> r : routes) {
            Object before = victimState();
            ApiClient.Result res = call(r, null);
            assertThat(res.status()).as(describe(r)).isEqualTo(401);
            assertThat(res.headers().firstValue("content-type")).hasValue("application/problem+json");
            assertNoLeak(r, res);
            assertThat(victimState()).as(describe(r)).isEqualTo(before);
        }
        await().atMost(Duration.ofSeconds(10)).until(() -> server.sql(h -> h.createQuery(
                "SELECT COUNT(*) FROM security_events WHERE type = 'api-authentication-failed' AND reason = 'missing'")
                .mapTo(Long.class).one()) >= routes.size());
    }

    @Test
    void every_route_answers_another_tenants_objects_with_404_and_leaks_and_changes_nothing() {
        for (Map<String, Object> r : routes) {
            Object before = victimState();
            ApiClient.Result res = call(r, attacker);
            if (((String) r.get("path")).contains("{")) {
                assertThat(res.status()).as(describe(r) + " " + res.body()).isEqualTo(404);
            }
            assertNoLeak(r, res);
            assertThat(victimState()).as(describe(r)).isEqualTo(before);
        }
    }

    @Test
    void every_route_refuses_each_role_it_does_not_grant_and_leaks_and_changes_nothing() {
        int checked = 0;
        for (Map<String, Object> r : routes) {
            @SuppressWarnings("unchecked")
            Set<Role> allowed = (Set<Role>) r.get("roles");
            for (Role role : EnumSet.complementOf(EnumSet.copyOf(allowed))) {
                Object before = victimState();
                ApiClient.Result res = call(r, victimRoleTokens.get(role));
                assertThat(res.status()).as(describe(r) + " as " + role.wireName() + ": " + res.body()).isEqualTo(403);
                assertNoLeak(r, res);
                assertThat(victimState()).as(describe(r) + " as " + role.wireName()).isEqualTo(before);
                checked++;
            }
        }
        assertThat(checked).isGreaterThan(routes.size());
        long denied = server.sql(h -> h.createQuery("SELECT COUNT(*) FROM audit_log WHERE outcome = 'denied'").mapTo(Long.class).one());
        assertThat(denied).isGreaterThanOrEqualTo(checked);
    }

    private ApiClient.Result call(Map<String, Object> route, String token) {
        String path = (String) route.get("path");
        Matcher m = Pattern.compile("\\{([A-Za-z]+)}").matcher(path);
        StringBuilder sb = new StringBuilder();
        while (m.find()) {
            String name = m.group(1);
            String key = name.equals("tokenId") ? (path.startsWith("/api/v1/tokens") ? "operatorTokenId" : "deviceTokenId") : name;
            String value = pathValues.get(key);
            assertThat(value).as("test fixture for path parameter " + name + " of " + path).isNotNull();
            m.appendReplacement(sb, Matcher.quoteReplacement(value));
        }
        m.appendTail(sb);
        String body = (String) route.get("example");
        return api.send((String) route.get("method"), sb.toString(), token, body == null ? null : "application/json",
                body == null ? null : body.getBytes(java.nio.charset.StandardCharsets.UTF_8));
    }

    /**
     * The attacker's own audit entries and security events record the victim ids the attacker itself
     * sent (that is the forensic trail of the attempt, kept in the attacker's tenant); those records are
     * removed before scanning. Everything else in the body is scanned for the victim's markers.
     */
    private void assertNoLeak(Map<String, Object> route, ApiClient.Result res) {
        String body = res.body();
        if (body.startsWith("{") && res.json().has("items")) {
            com.fasterxml.jackson.databind.node.ArrayNode kept = com.fasterxml.jackson.databind.node.JsonNodeFactory.instance.arrayNode();
            for (JsonNode item : res.json().get("items")) {
                String who = item.path("actor").asText("") + item.path("identity").asText("");
                if (!who.startsWith("operator:" + ATTACKER + "/")) {
                    kept.add(item);
                }
            }
            body = kept.toString();
        }
        for (String marker : markers) {
            assertThat(body).as(describe(route) + " leaks " + marker).doesNotContain(marker);
        }
        assertThat(res.body()).doesNotContain("Exception").doesNotContain("\tat ");
    }

    /** Everything stored for the victim tenant, except the append-only audit and event logs. */
    private Object victimState() {
        server.node().telemetry().flush(); // messages still in the (tenant-mixed) log go to the victim's segments first
        return server.sql(h -> {
            List<Object> state = new ArrayList<>();
            state.add(h.createQuery("SELECT * FROM tenants WHERE id = :t").bind("t", VICTIM).mapToMap().list());
            for (String table : TENANT_TABLES) {
                List<Map<String, Object>> rows = h.createQuery("SELECT * FROM " + table + " WHERE tenant_id = :t ORDER BY 1, 2")
                        .bind("t", VICTIM).mapToMap().list();
                for (Map<String, Object> row : rows) {
                    row.replaceAll((k, v) -> v instanceof byte[] b ? java.util.HexFormat.of().formatHex(b) : v); // compare bytes, not arrays
                }
                state.add(rows.toString());
            }
            return state;
        });
    }

    private List<Map<String, Object>> openApiRoutes() {
        ApiClient.Result doc = api.get("/api/openapi.json", attacker);
        assertThat(doc.status()).isEqualTo(200);
        List<Map<String, Object>> out = new ArrayList<>();
        Iterator<Map.Entry<String, JsonNode>> paths = doc.json().get("paths").fields();
        while (paths.hasNext()) {
            var p = paths.next();
            Iterator<Map.Entry<String, JsonNode>> ops = p.getValue().fields();
            while (ops.hasNext()) {
                var op = ops.next();
                Set<Role> roles = EnumSet.noneOf(Role.class);
                op.getValue().get("x-bulwark-roles").forEach(n -> roles.add(Role.fromWire(n.asText())));
                JsonNode example = op.getValue().path("requestBody").path("content").path("application/json").path("example");
                Map<String, Object> r = new java.util.HashMap<>();
                r.put("method", op.getKey().toUpperCase(Locale.ROOT));
                r.put("path", p.getKey());
                r.put("roles", roles);
                r.put("example", example.isMissingNode() ? null : example.toString());
                out.add(r);
            }
        }
        return out;
    }

    private static String describe(Map<String, Object> r) {
        return r.get("method") + " " + r.get("path");
    }
}
