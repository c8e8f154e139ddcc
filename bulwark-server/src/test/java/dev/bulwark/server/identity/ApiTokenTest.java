package dev.bulwark.server.identity;

import static org.assertj.core.api.Assertions.assertThat;
import static org.awaitility.Awaitility.await;

import com.fasterxml.jackson.databind.JsonNode;
import dev.bulwark.server.cli.ApiClient;
import dev.bulwark.server.crypto.Secrets;
import dev.bulwark.server.testkit.Backend;
import dev.bulwark.server.testkit.NodePerTest;
import java.time.Duration;
import java.time.Instant;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedClass;
import org.junit.jupiter.params.provider.EnumSource;

/** Operator API tokens: 256-bit, shown once, stored hashed, expiring, revocable; every refusal recorded. */
@ParameterizedClass
@EnumSource(Backend.class)
class ApiTokenTest extends NodePerTest {

    @BeforeEach
    void start() {
        server.tenantWithOperator("acme", "alice", "tenant-admin");
    }

    private JsonNode newOperator(String name, String... roles) {
        ApiClient.Result r = api.post("/api/v1/tenants/acme/operators", server.tenantRoot("acme"), Map.of("name", name, "roles", List.of(roles)));
        assertThat(r.status()).isEqualTo(201);
        return r.json();
    }

    private void awaitEvent(String type, String reason) {
        await().atMost(Duration.ofSeconds(10)).until(() -> server.count(
                "SELECT COUNT(*) FROM security_events WHERE type = '" + type + "' AND reason = '" + reason + "'") > 0);
    }

    @Test
    void an_operator_token_has_256_random_bits_is_shown_once_and_stored_only_as_its_digest() {
        JsonNode op = newOperator("bob", "fleet-operator");
        String token = op.get("token").asText();
        assertThat(token).matches("bwk\\.[0-9a-f]{16}\\.[A-Za-z0-9_-]{43}");
        String secret = token.substring(token.lastIndexOf('.') + 1);
        assertThat(java.util.Base64.getUrlDecoder().decode(secret)).hasSize(32);
        var row = server.sql(h -> h.createQuery("SELECT * FROM api_tokens WHERE id = :id").bind("id", op.get("tokenId").asText()).mapToMap().one());
        assertThat(row.toString()).doesNotContain(secret);
        assertThat(row.get("secret_sha256")).isEqualTo(Secrets.sha256Hex(secret));
        ApiClient.Result list = api.get("/api/v1/tokens", token);
        assertThat(list.status()).isEqualTo(200);
        assertThat(list.body()).contains(op.get("tokenId").asText()).doesNotContain(secret);
        assertThat(newOperator("carol", "auditor").get("token").asText()).isNotEqualTo(token);
    }

    @Test
    void an_active_token_is_listed_as_not_revoked_and_a_revoked_one_with_its_time() {
        JsonNode bob = newOperator("bob", "fleet-operator");
        String admin = server.operator("acme", "root-admin", "tenant-admin");
        JsonNode mine = tokenListed(admin, bob.get("tokenId").asText());
        assertThat(mine.get("revokedAt").isNull()).as("revokedAt of an active token: %s", mine).isTrue();
        assertThat(api.delete("/api/v1/tokens/" + bob.get("tokenId").asText(), admin).status()).isEqualTo(204);
        JsonNode revoked = tokenListed(admin, bob.get("tokenId").asText());
        assertThat(Duration.between(Instant.parse(revoked.get("revokedAt").asText()), Instant.now()).abs().toMinutes()).isZero();
    }

    private JsonNode tokenListed(String token, String id) {
        for (JsonNode t : api.get("/api/v1/tokens", token).json().get("items")) {
            if (t.get("id").asText().equals(id)) {
                return t;
            }
        }
        throw new AssertionError("token " + id + " not listed");
    }

    @Test
    void the_platform_admin_cannot_mint_a_token_for_a_tenant_operator_nor_create_one_in_a_provisioned_tenant() {
        ApiClient.Result mint = api.post("/api/v1/tenants/acme/operators/alice/tokens", server.adminToken(), Map.of("ttlDays", 1));
        assertThat(mint.status()).isEqualTo(403);
        assertThat(mint.body()).doesNotContain("bwk.");
        awaitEvent("api-authorization-denied", "role does not permit createOperatorToken");
        ApiClient.Result create = api.post("/api/v1/tenants/acme/operators", server.adminToken(),
                Map.of("name", "mole", "roles", List.of("tenant-admin")));
        assertThat(create.status()).isEqualTo(403);
        assertThat(create.json().get("detail").asText()).contains("first operator");
        assertThat(create.body()).doesNotContain("bwk.");
        assertThat(server.count("SELECT COUNT(*) FROM operators WHERE name = 'mole'")).isZero();
        // the platform's provisioning of the tenant's first operator is in the tenant's own audit log
        JsonNode audit = api.get("/api/v1/audit?limit=100", server.operator("acme", "aud", "auditor")).json().get("items");
        assertThat(audit.toString()).contains("operator.create").contains("platform/admin").contains("first operator");
    }

    @Test
    void an_operator_renews_their_own_token_but_minting_for_another_needs_a_tenant_admin_and_a_reason_and_is_visible() {
        String bob = newOperator("bob", "fleet-operator").get("token").asText();
        ApiClient.Result own = api.post("/api/v1/tenants/acme/operators/bob/tokens", bob, Map.of("ttlDays", 1));
        assertThat(own.status()).isEqualTo(201);
        assertThat(api.get("/api/v1/devices", own.json().get("token").asText()).status()).isEqualTo(200);

        // a fleet operator cannot mint for a colleague: as if the operator did not exist for them
        assertThat(api.post("/api/v1/tenants/acme/operators/alice/tokens", bob, Map.of("ttlDays", 1)).status()).isEqualTo(404);

        String root = server.tenantRoot("acme");
        ApiClient.Result silent = api.post("/api/v1/tenants/acme/operators/bob/tokens", root, Map.of("ttlDays", 1));
        assertThat(silent.status()).isEqualTo(422);
        assertThat(silent.json().get("detail").asText()).contains("reason");

        ApiClient.Result onBehalf = api.post("/api/v1/tenants/acme/operators/bob/tokens", root,
                Map.of("ttlDays", 1, "reason", "bob lost his laptop, ticket 4711"));
        assertThat(onBehalf.status()).isEqualTo(201);
        String analyst = server.operator("acme", "sec", "security-analyst");
        await().atMost(Duration.ofSeconds(10)).until(() -> api.get("/api/v1/security/events?type=operator-token-issued-on-behalf", analyst)
                .json().get("items").toString().contains("ticket 4711"));
        JsonNode audit = api.get("/api/v1/audit?limit=100", server.operator("acme", "aud", "auditor")).json().get("items");
        assertThat(audit.toString()).contains("token.create.on-behalf").contains("ticket 4711").contains("acme/" + dev.bulwark.server.testkit.TestServer.TENANT_ROOT);
    }

    @Test
    void tokens_expire_after_their_lifetime_and_the_refusal_is_recorded() {
        JsonNode op = newOperator("bob", "fleet-operator");
        Instant expires = Instant.parse(op.get("expiresAt").asText());
        assertThat(Duration.between(Instant.now(), expires).toDays()).isBetween(89L, 90L);
        String token = op.get("token").asText();
        assertThat(api.get("/api/v1/devices", token).status()).isEqualTo(200);
        server.sql(h -> h.execute("UPDATE api_tokens SET expires_ms = 1000 WHERE id = ?", op.get("tokenId").asText()));
        ApiClient.Result r = api.get("/api/v1/devices", token);
        assertThat(r.status()).isEqualTo(401);
        assertThat(r.headers().firstValue("www-authenticate")).hasValueSatisfying(v -> assertThat(v).startsWith("Bearer"));
        awaitEvent("api-authentication-failed", "expired");
    }

    @Test
    void a_requested_lifetime_is_honoured_within_bounds() {
        ApiClient.Result ok = api.post("/api/v1/tenants/acme/operators", server.tenantRoot("acme"),
                Map.of("name", "temp", "roles", List.of("auditor"), "ttlDays", 1));
        assertThat(Duration.between(Instant.now(), Instant.parse(ok.json().get("expiresAt").asText())).toHours()).isBetween(23L, 24L);
        for (int bad : new int[] {0, -1, 366}) {
            ApiClient.Result r = api.post("/api/v1/tenants/acme/operators", server.tenantRoot("acme"),
                    Map.of("name", "temp" + (bad + 10), "roles", List.of("auditor"), "ttlDays", bad));
            assertThat(r.status()).isEqualTo(422);
        }
    }

    @Test
    void a_revoked_token_stops_working_at_once_and_the_refusal_is_recorded() {
        JsonNode op = newOperator("bob", "fleet-operator");
        String token = op.get("token").asText();
        assertThat(api.delete("/api/v1/tokens/" + op.get("tokenId").asText(), token).status()).isEqualTo(204);
        assertThat(api.get("/api/v1/devices", token).status()).isEqualTo(401);
        awaitEvent("api-authentication-failed", "revoked");
        assertThat(server.count("SELECT COUNT(*) FROM audit_log WHERE action = 'token.revoke' AND outcome = 'success'")).isEqualTo(1);
    }

    @Test
    void an_operator_cannot_revoke_a_colleagues_token_but_the_tenant_admin_can() {
        JsonNode bob = newOperator("bob", "fleet-operator");
        JsonNode carol = newOperator("carol", "auditor");
        assertThat(api.delete("/api/v1/tokens/" + carol.get("tokenId").asText(), bob.get("token").asText()).status()).isEqualTo(404);
        assertThat(api.get("/api/v1/devices", carol.get("token").asText()).status()).isEqualTo(200);
        String admin = server.operator("acme", "root-admin", "tenant-admin");
        assertThat(api.delete("/api/v1/tokens/" + carol.get("tokenId").asText(), admin).status()).isEqualTo(204);
        assertThat(api.get("/api/v1/devices", carol.get("token").asText()).status()).isEqualTo(401);
    }

    @Test
    void a_token_with_a_guessed_secret_is_refused_and_recorded_as_wrong_secret() throws Exception {
        JsonNode op = newOperator("bob", "fleet-operator");
        String forged = "bwk." + op.get("tokenId").asText() + "." + Secrets.randomBase64Url(32);
        assertThat(api.get("/api/v1/devices", forged).status()).isEqualTo(401);
        awaitEvent("api-authentication-failed", "wrong-secret");
        var event = server.sql(h -> h.createQuery("SELECT * FROM security_events WHERE reason = 'wrong-secret'").mapToMap().one());
        assertThat(event.get("source_address")).isEqualTo("127.0.0.1");
        assertThat(event.get("channel")).isEqualTo("api");
        assertThat(event.get("tenant_id")).as("a guess at acme's operator token is acme's to see").isEqualTo("acme");
        assertThat(event.toString()).doesNotContain(forged.substring(forged.lastIndexOf('.') + 1));
        java.nio.file.Path jsonl = server.dataDir().resolve("log/security-events.jsonl");
        await().atMost(Duration.ofSeconds(10)).until(() -> java.nio.file.Files.exists(jsonl)
                && java.nio.file.Files.readString(jsonl).contains("\"reason\":\"wrong-secret\""));
        String lines = java.nio.file.Files.readString(jsonl);
        assertThat(lines).doesNotContain(forged.substring(forged.lastIndexOf('.') + 1));
        for (String line : lines.split("\n")) {
            assertThat(new com.fasterxml.jackson.databind.ObjectMapper().readTree(line).has("sourceAddress")).isTrue();
        }
        assertThat(java.nio.file.attribute.PosixFilePermissions.toString(java.nio.file.Files.getPosixFilePermissions(jsonl))).isEqualTo("rw-------");
    }

    @Test
    void malformed_and_unknown_tokens_are_refused_and_recorded() {
        for (String bad : List.of("nonsense", "bwk.zz.zz", "Basic YWRtaW46YWRtaW4=")) {
            assertThat(api.send("GET", "/api/v1/devices", null, null, null).status()).isEqualTo(401);
            ApiClient.Result r = api.send("GET", "/api/v1/devices", bad, null, null);
            assertThat(r.status()).isEqualTo(401);
        }
        String unknown = "bwk.0123456789abcdef." + Secrets.randomBase64Url(32);
        assertThat(api.get("/api/v1/devices", unknown).status()).isEqualTo(401);
        awaitEvent("api-authentication-failed", "malformed");
        awaitEvent("api-authentication-failed", "unknown-token");
        awaitEvent("api-authentication-failed", "missing");
    }

    @Test
    void the_platform_admin_manages_tenants_but_reads_no_tenant_data() {
        String admin = server.adminToken();
        assertThat(api.get("/api/v1/tenants", admin).status()).isEqualTo(200);
        server.createDevice(server.operator("acme", "ops", "fleet-operator"), "thermo-1", "thermo");
        assertThat(api.get("/api/v1/devices", admin).status()).isEqualTo(403);
        assertThat(api.get("/api/v1/devices/thermo-1", admin).status()).isEqualTo(403);
        // the platform audit holds platform actions (and the admin's own refused attempts), no tenant's actions
        assertThat(api.get("/api/v1/audit", admin).body()).doesNotContain("\"actor\":\"operator:acme/").doesNotContain("device.create");
    }

    @Test
    void the_platform_admin_reads_the_security_events_no_tenant_owns_and_none_of_a_tenants() {
        api.get("/api/v1/devices", "bwk.0123456789abcdef." + Secrets.randomBase64Url(32));           // unattributed
        String acme = server.operator("acme", "analyst", "security-analyst");
        server.createDevice(server.operator("acme", "ops2", "fleet-operator"), "thermo-9", "thermo");
        api.get("/api/v1/devices/thermo-9", server.operator("acme", "viewer", "firmware-publisher"));   // acme's denial
        awaitEvent("api-authentication-failed", "unknown-token");
        await().atMost(Duration.ofSeconds(10)).until(() -> server.count(
                "SELECT COUNT(*) FROM security_events WHERE tenant_id = 'acme'") > 0);
        JsonNode platform = api.get("/api/v1/security/events", server.adminToken()).json().get("items");
        assertThat(platform).isNotEmpty().allSatisfy(e -> assertThat(e.get("identity").asText("")).doesNotContain("operator:acme/"));
        assertThat(platform.toString()).contains("unknown-token");
        JsonNode tenant = api.get("/api/v1/security/events", acme).json().get("items");
        assertThat(tenant.toString()).doesNotContain("unknown-token").contains("api-authorization-denied");
    }

    @Test
    void a_tenant_admin_cannot_create_operators_in_another_tenant() {
        String acmeAdmin = server.operator("acme", "adm2", "tenant-admin");
        server.tenantWithOperator("globex", "g-admin", "tenant-admin");
        ApiClient.Result r = api.post("/api/v1/tenants/globex/operators", acmeAdmin, Map.of("name", "mole", "roles", List.of("tenant-admin")));
        assertThat(r.status()).isEqualTo(404);
        assertThat(server.count("SELECT COUNT(*) FROM operators WHERE name = 'mole'")).isZero();
    }
}
