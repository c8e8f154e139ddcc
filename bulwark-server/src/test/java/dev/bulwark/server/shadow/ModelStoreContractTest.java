package dev.bulwark.server.shadow;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import com.fasterxml.jackson.databind.JsonNode;
import dev.bulwark.protocol.ModelId;
import dev.bulwark.protocol.TenantId;
import dev.bulwark.server.core.Refusal;
import dev.bulwark.server.testkit.Backend;
import dev.bulwark.server.testkit.StoreFixture;
import org.jdbi.v3.core.Handle;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedClass;
import org.junit.jupiter.params.provider.EnumSource;

/** The contract of {@link ModelStore} on every backend: models, schemas, the command allowlist, tenant isolation. */
@ParameterizedClass
@EnumSource(Backend.class)
class ModelStoreContractTest extends StoreFixture {
    static final TenantId A = TenantId.of(ACME);
    static final TenantId G = TenantId.of(GLOBEX);
    static final ModelId M = ModelId.of("thermo");
    static final JsonNode SCHEMA = ModelStore.parse("{\"type\":\"object\"}");
    final ModelStore store = new ModelStore();

    private void create(TenantId t) {
        sql((Handle h) -> {
            store.create(h, t, M, 1000);
            return null;
        });
    }

    @Test
    void a_model_carries_its_configuration_schema_and_command_allowlist() {
        create(A);
        assertThatThrownBy(() -> create(A)).isInstanceOf(Refusal.class);
        assertThat(sql((Handle h) -> store.exists(h, A, M))).isTrue();
        assertThat(sql((Handle h) -> store.list(h, A))).containsExactly("thermo");
        assertThat(sql((Handle h) -> store.configSchema(h, A, M))).isEmpty();
        sql((Handle h) -> {
            store.lock(h, A, M);
            store.setConfigSchema(h, A, M, SCHEMA, 2000);
            store.allowCommand(h, A, M, "reboot", SCHEMA, 2000);
            store.allowCommand(h, A, M, "reboot", ModelStore.parse("{\"type\":\"null\"}"), 2100); // replaces
            store.allowCommand(h, A, M, "blink", SCHEMA, 2000);
            return null;
        });
        assertThat(sql((Handle h) -> store.configSchema(h, A, M))).contains(SCHEMA);
        assertThat(sql((Handle h) -> store.commands(h, A, M)).keySet()).containsExactly("blink", "reboot");
        assertThat(sql((Handle h) -> store.commandSchema(h, A, M, "reboot")).orElseThrow().get("type").asText()).isEqualTo("null");
        assertThat(sql((Handle h) -> store.removeCommand(h, A, M, "reboot"))).isTrue();
        assertThat(sql((Handle h) -> store.removeCommand(h, A, M, "reboot"))).isFalse();
        assertThat(sql((Handle h) -> store.commandSchema(h, A, M, "reboot"))).isEmpty();
    }

    @Test
    void another_tenant_never_reads_or_changes_a_model() {
        create(A);
        sql((Handle h) -> {
            store.setConfigSchema(h, A, M, SCHEMA, 2000);
            store.allowCommand(h, A, M, "reboot", SCHEMA, 2000);
            return null;
        });
        assertThat(sql((Handle h) -> store.exists(h, G, M))).isFalse();
        assertThat(sql((Handle h) -> store.list(h, G))).isEmpty();
        assertThat(sql((Handle h) -> store.configSchema(h, G, M))).isEmpty();
        assertThat(sql((Handle h) -> store.commands(h, G, M))).isEmpty();
        assertThat(sql((Handle h) -> store.commandSchema(h, G, M, "reboot"))).isEmpty();
        assertThatThrownBy(() -> sql((Handle h) -> {
            store.lock(h, G, M);
            return null;
        })).isInstanceOf(Refusal.class);
        assertThat(sql((Handle h) -> store.removeCommand(h, G, M, "reboot"))).isFalse();
        sql((Handle h) -> {
            store.setConfigSchema(h, G, M, ModelStore.parse("{\"type\":\"string\"}"), 3000);
            return null;
        });
        // the same model id in the other tenant is a model of its own
        create(G);
        assertThat(sql((Handle h) -> store.configSchema(h, A, M))).contains(SCHEMA);
        assertThat(sql((Handle h) -> store.commands(h, A, M)).keySet()).containsExactly("reboot");
        assertThat(sql((Handle h) -> store.commands(h, G, M))).isEmpty();
    }
}
