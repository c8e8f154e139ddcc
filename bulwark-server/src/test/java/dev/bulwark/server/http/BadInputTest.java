package dev.bulwark.server.http;

import static org.assertj.core.api.Assertions.assertThat;

import dev.bulwark.server.cli.ApiClient;
import dev.bulwark.server.testkit.Backend;
import dev.bulwark.server.testkit.NodePerTest;
import java.nio.charset.StandardCharsets;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedClass;
import org.junit.jupiter.params.provider.EnumSource;

/** Bad input: each a 4xx problem+json with a reason, nothing written, no stack trace. */
@ParameterizedClass
@EnumSource(Backend.class)
class BadInputTest extends NodePerTest {
    String token;

    @BeforeEach
    void start() {
        token = server.tenantWithOperator("acme", "alice", "tenant-admin");
    }

    private ApiClient.Result postDevice(String contentType, String body) {
        return api.send("POST", "/api/v1/devices", token, contentType, body.getBytes(StandardCharsets.UTF_8));
    }

    private void assertProblem(ApiClient.Result r, int status, String type, String reasonFragment) {
        assertThat(r.status()).as(r.body()).isEqualTo(status);
        assertThat(r.headers().firstValue("content-type")).hasValue("application/problem+json");
        var p = r.json();
        assertThat(p.get("type").asText()).isEqualTo("urn:bulwark:problem:" + type);
        assertThat(p.get("status").asInt()).isEqualTo(status);
        assertThat(p.get("detail").asText()).contains(reasonFragment);
        assertThat(r.body()).doesNotContain("Exception").doesNotContain("\tat ").doesNotContain("java.");
    }

    private long devices() {
        return server.count("SELECT COUNT(*) FROM devices");
    }

    @Test
    void malformed_json_is_refused_with_its_position_and_nothing_is_written() {
        assertProblem(postDevice("application/json", "{\"id\": \"a\", "), 400, "malformed-request", "malformed JSON");
        assertProblem(postDevice("application/json", "{\"id\":\"thermo-1\",\"model\":\"m\"} trailing"), 400, "malformed-request", "malformed JSON");
        assertProblem(postDevice("application/json", "[1,2]"), 400, "malformed-request", "wrong shape");
        assertProblem(postDevice("application/json", "null"), 400, "malformed-request", "JSON object");
        assertThat(devices()).isZero();
    }

    @Test
    void unknown_fields_are_refused_by_name_and_nothing_is_written() {
        assertProblem(postDevice("application/json", "{\"id\":\"thermo-1\",\"model\":\"m\",\"secret\":\"x\"}"), 400,
                "malformed-request", "unknown field 'secret'");
        assertThat(devices()).isZero();
    }

    @Test
    void duplicate_keys_and_wrong_types_are_refused() {
        assertProblem(postDevice("application/json", "{\"id\":\"thermo-1\",\"id\":\"thermo-2\",\"model\":\"m\"}"), 400,
                "malformed-request", "duplicate field");
        assertProblem(postDevice("application/json", "{\"id\":{\"x\":1},\"model\":\"m\"}"), 400, "malformed-request", "field 'id'");
        assertProblem(postDevice("application/json", "{\"id\":12,\"model\":\"m\"}"), 400, "malformed-request", "field 'id'");
        assertThat(devices()).isZero();
    }

    @Test
    void deeply_nested_documents_are_refused() {
        String deep = "{\"id\":" + "[".repeat(100) + "]".repeat(100) + "}";
        ApiClient.Result r = postDevice("application/json", deep);
        assertThat(r.status()).isEqualTo(400);
        assertThat(devices()).isZero();
    }

    @Test
    void a_body_over_the_size_limit_is_refused_with_413() {
        String big = "{\"id\":\"thermo-1\",\"model\":\"" + "m".repeat(70 * 1024) + "\"}";
        assertProblem(postDevice("application/json", big), 413, "payload-too-large", "exceeds the limit");
        assertThat(devices()).isZero();
    }

    @Test
    void a_client_still_writing_a_large_body_reads_the_413_before_the_connection_closes() {
        String big = "{\"id\":\"thermo-1\",\"model\":\"" + "m".repeat(900 * 1024) + "\"}";
        for (int i = 0; i < 5; i++) {
            assertProblem(postDevice("application/json", big), 413, "payload-too-large", "exceeds the limit");
        }
        assertThat(devices()).isZero();
    }

    @Test
    void a_wrong_content_type_is_refused_with_415() {
        assertProblem(postDevice("text/plain", "{\"id\":\"thermo-1\",\"model\":\"m\"}"), 415, "unsupported-media-type", "application/json");
        assertProblem(postDevice("application/x-www-form-urlencoded", "id=thermo-1&model=m"), 415, "unsupported-media-type", "application/json");
        assertThat(devices()).isZero();
    }

    @Test
    void a_missing_body_is_refused() {
        assertProblem(api.send("POST", "/api/v1/devices", token, "application/json", new byte[0]), 400, "malformed-request", "body is required");
        assertProblem(api.send("POST", "/api/v1/devices", token, null, null), 415, "unsupported-media-type", "application/json");
        assertThat(devices()).isZero();
    }

    @Test
    void ids_outside_the_grammar_are_refused_with_the_rule() {
        for (String bad : List.of("", "a/b", "dev+1", "#", "$SYS", "dev@acme", "with space", "x".repeat(65), "00:1A:2B:3C:4D:5E", "001a2b3c4d5e")) {
            ApiClient.Result r = api.post("/api/v1/devices", token, Map.of("id", bad, "model", "thermo"));
            assertProblem(r, 422, "invalid-request", "device id");
        }
        assertProblem(api.post("/api/v1/devices", token, Map.of("id", "thermo-1", "model", "Thermo Pro")), 422, "invalid-request", "model");
        assertProblem(api.post("/api/v1/tenants", server.adminToken(), Map.of("id", "Bad_Tenant", "name", "x")), 422, "invalid-request", "tenant id");
        assertProblem(api.post("/api/v1/tenants", server.adminToken(), Map.of("id", "okay", "name", "bad\u0000name")), 422, "invalid-request", "printable");
        assertProblem(api.post("/api/v1/tenants/acme/operators", server.adminToken(), Map.of("name", "Bob Smith", "roles", List.of("auditor"))),
                422, "invalid-request", "name");
        assertThat(devices()).isZero();
        assertThat(server.count("SELECT COUNT(*) FROM tenants")).isEqualTo(1);
    }

    @Test
    void unknown_roles_and_platform_admin_for_a_tenant_operator_are_refused() {
        assertProblem(api.post("/api/v1/tenants/acme/operators", token, Map.of("name", "bob", "roles", List.of("root"))),
                422, "invalid-request", "unknown role");
        assertProblem(api.post("/api/v1/tenants/acme/operators", token, Map.of("name", "bob", "roles", List.of("platform-admin"))),
                422, "invalid-request", "platform-admin");
        assertProblem(api.post("/api/v1/tenants/acme/operators", token, Map.of("name", "bob", "roles", List.of())),
                422, "invalid-request", "at least one role");
        assertThat(server.count("SELECT COUNT(*) FROM operators WHERE name = 'bob'")).isZero();
    }

    @Test
    void bad_query_parameters_and_cursors_are_refused_with_a_reason() {
        assertProblem(api.get("/api/v1/devices?limit=0", token), 422, "invalid-request", "limit");
        assertProblem(api.get("/api/v1/devices?limit=abc", token), 422, "invalid-request", "integer");
        assertProblem(api.get("/api/v1/devices?cursor=!!notbase64!!", token), 422, "invalid-request", "cursor");
        assertProblem(api.get("/api/v1/devices?limit=1&limit=2", token), 400, "malformed-request", "more than once");
    }

    @Test
    void unknown_routes_and_methods_answer_problem_json() {
        assertProblem(api.get("/api/v1/nothing-here", token), 404, "not-found", "no such route");
        ApiClient.Result r = api.send("PATCH", "/api/v1/devices", token, "application/json", "{}".getBytes(StandardCharsets.UTF_8));
        assertThat(r.status()).isEqualTo(405);
        assertThat(r.headers().firstValue("content-type")).hasValue("application/problem+json");
    }

    @Test
    void conflicting_creates_answer_409_and_keep_the_first() {
        assertThat(api.post("/api/v1/devices", token, Map.of("id", "thermo-1", "model", "a")).status()).isEqualTo(201);
        assertProblem(api.post("/api/v1/devices", token, Map.of("id", "thermo-1", "model", "b")), 409, "conflict", "already exists");
        assertThat(api.get("/api/v1/devices/thermo-1", token).json().get("model").asText()).isEqualTo("a");
    }

    @Test
    void refused_requests_are_audited_with_their_reason() {
        postDevice("application/json", "{\"id\":\"thermo-1\",\"model\":\"m\",\"extra\":1}");
        var entry = server.sql(h -> h.createQuery("SELECT action, outcome, detail, actor FROM audit_log ORDER BY seq DESC LIMIT 1").mapToMap().one());
        assertThat(entry.get("action")).isEqualTo("device.create");
        assertThat(entry.get("outcome")).isEqualTo("refused");
        assertThat((String) entry.get("detail")).contains("unknown field 'extra'");
        assertThat((String) entry.get("actor")).startsWith("operator:acme/alice");
    }
}
