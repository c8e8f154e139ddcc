package dev.bulwark.server.device;

import static org.assertj.core.api.Assertions.assertThat;

import com.fasterxml.jackson.databind.JsonNode;
import dev.bulwark.server.cli.ApiClient;
import dev.bulwark.server.testkit.Backend;
import dev.bulwark.server.testkit.NodePerTest;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedClass;
import org.junit.jupiter.params.provider.EnumSource;

@ParameterizedClass
@EnumSource(Backend.class)
class DeviceRegistryTest extends NodePerTest {
    String token;

    @BeforeEach
    void start() {
        token = server.tenantWithOperator("acme", "ops", "fleet-operator");
    }

    @Test
    void a_device_is_registered_in_the_callers_tenant_and_read_back() {
        JsonNode created = server.createDevice(token, "thermo-0001", "thermo");
        assertThat(created.get("status").asText()).isEqualTo("active");
        JsonNode read = api.get("/api/v1/devices/thermo-0001", token).json();
        assertThat(read.get("model").asText()).isEqualTo("thermo");
        assertThat(server.count("SELECT COUNT(*) FROM devices WHERE tenant_id = 'acme' AND id = 'thermo-0001'")).isEqualTo(1);
    }

    @Test
    void the_device_list_pages_with_an_opaque_cursor_without_gaps_or_repeats() {
        for (int i = 0; i < 25; i++) {
            server.createDevice(token, String.format("dev-%03d", i), "m");
        }
        List<String> seen = new ArrayList<>();
        String cursor = null;
        int pages = 0;
        do {
            JsonNode page = api.get("/api/v1/devices?limit=10" + (cursor == null ? "" : "&cursor=" + cursor), token).json();
            page.get("items").forEach(d -> seen.add(d.get("id").asText()));
            cursor = page.get("nextCursor").isNull() ? null : page.get("nextCursor").asText();
            pages++;
        } while (cursor != null && pages < 10);
        assertThat(seen).hasSize(25).doesNotHaveDuplicates().isSorted();
        assertThat(pages).isEqualTo(3);
    }

    @Test
    void a_disabled_device_can_be_enabled_again_and_both_are_audited() {
        server.createDevice(token, "thermo-0001", "thermo");
        assertThat(api.post("/api/v1/devices/thermo-0001/disable", token, null).json().get("status").asText()).isEqualTo("disabled");
        assertThat(api.get("/api/v1/devices/thermo-0001", token).json().get("status").asText()).isEqualTo("disabled");
        assertThat(api.post("/api/v1/devices/thermo-0001/enable", token, null).json().get("status").asText()).isEqualTo("active");
        assertThat(server.count("SELECT COUNT(*) FROM audit_log WHERE action IN ('device.disable', 'device.enable') "
                + "AND outcome = 'success' AND target = 'device:thermo-0001' AND tenant_id = 'acme'")).isEqualTo(2);
    }

    @Test
    void a_deleted_device_disappears_and_its_id_is_never_given_to_another_device() {
        server.createDevice(token, "thermo-0001", "thermo");
        assertThat(api.delete("/api/v1/devices/thermo-0001", token).status()).isEqualTo(204);
        assertThat(api.get("/api/v1/devices/thermo-0001", token).status()).isEqualTo(404);
        assertThat(api.get("/api/v1/devices", token).body()).doesNotContain("thermo-0001");
        assertThat(api.delete("/api/v1/devices/thermo-0001", token).status()).isEqualTo(404);
        ApiClient.Result again = api.post("/api/v1/devices", token, Map.of("id", "thermo-0001", "model", "thermo"));
        assertThat(again.status()).isEqualTo(409);
        assertThat(again.json().get("detail").asText()).contains("deleted device");
        // the row is kept as evidence
        assertThat(server.count("SELECT COUNT(*) FROM devices WHERE id = 'thermo-0001' AND status = 'deleted'")).isEqualTo(1);
    }

    @Test
    void the_same_device_id_in_two_tenants_names_two_separate_devices() {
        String other = server.tenantWithOperator("globex", "ops", "fleet-operator");
        server.createDevice(token, "thermo-0001", "acme-model");
        server.createDevice(other, "thermo-0001", "globex-model");
        assertThat(api.get("/api/v1/devices/thermo-0001", token).json().get("model").asText()).isEqualTo("acme-model");
        assertThat(api.get("/api/v1/devices/thermo-0001", other).json().get("model").asText()).isEqualTo("globex-model");
        api.delete("/api/v1/devices/thermo-0001", other);
        assertThat(api.get("/api/v1/devices/thermo-0001", token).status()).isEqualTo(200);
    }
}
