package dev.bulwark.server.shadow;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import dev.bulwark.protocol.ModelId;
import dev.bulwark.protocol.TenantId;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.util.LinkedHashMap;
import java.util.Map;
import java.util.Optional;
import org.jdbi.v3.core.Handle;

/**
 * Per-tenant device models ({@code models}, {@code model_commands}): configuration schema and command allowlist
 * with parameter schemas. Every statement is keyed by tenant.
 */
public final class ModelStore {
    static final ObjectMapper JSON = new ObjectMapper();

    public void create(Handle h, TenantId tenant, ModelId model, long nowMs) {
        if (exists(h, tenant, model)) {
            throw dev.bulwark.server.core.Refusal.conflict("a model with this id already exists");
        }
        h.createUpdate("INSERT INTO models (tenant_id, id, updated_ms) VALUES (:t, :m, :now)")
                .bind("now", nowMs).bind("t", tenant.value()).bind("m", model.value()).execute();
    }

    /** Locks the model row for the transaction; 404 when the tenant has no such model. */
    public void lock(Handle h, TenantId tenant, ModelId model) {
        h.createQuery("SELECT id FROM models WHERE tenant_id = :t AND id = :m FOR UPDATE")
                .bind("t", tenant.value()).bind("m", model.value()).mapTo(String.class).findOne()
                .orElseThrow(dev.bulwark.server.core.Refusal::notFound);
    }

    public java.util.List<String> list(Handle h, TenantId tenant) {
        return h.createQuery("SELECT id FROM models WHERE tenant_id = :t ORDER BY id").bind("t", tenant.value()).mapTo(String.class).list();
    }

    public void setConfigSchema(Handle h, TenantId tenant, ModelId model, JsonNode schema, long nowMs) {
        h.createUpdate("UPDATE models SET config_schema = :s, updated_ms = :now WHERE tenant_id = :t AND id = :m")
                .bind("s", schema.toString()).bind("now", nowMs).bind("t", tenant.value()).bind("m", model.value()).execute();
    }

    public Optional<JsonNode> configSchema(Handle h, TenantId tenant, ModelId model) {
        return h.createQuery("SELECT config_schema FROM models WHERE tenant_id = :t AND id = :m AND config_schema IS NOT NULL")
                .bind("t", tenant.value()).bind("m", model.value()).mapTo(String.class).findOne().map(ModelStore::parse);
    }

    public void allowCommand(Handle h, TenantId tenant, ModelId model, String name, JsonNode paramsSchema, long nowMs) {
        int n = h.createUpdate("UPDATE model_commands SET params_schema = :s, updated_ms = :now WHERE tenant_id = :t AND model = :m AND name = :n")
                .bind("s", paramsSchema.toString()).bind("now", nowMs).bind("t", tenant.value()).bind("m", model.value()).bind("n", name).execute();
        if (n == 0) {
            h.createUpdate("INSERT INTO model_commands (tenant_id, model, name, params_schema, updated_ms) VALUES (:t, :m, :n, :s, :now)")
                    .bind("s", paramsSchema.toString()).bind("now", nowMs).bind("t", tenant.value()).bind("m", model.value()).bind("n", name).execute();
        }
    }

    public boolean removeCommand(Handle h, TenantId tenant, ModelId model, String name) {
        return h.createUpdate("DELETE FROM model_commands WHERE tenant_id = :t AND model = :m AND name = :n")
                .bind("t", tenant.value()).bind("m", model.value()).bind("n", name).execute() == 1;
    }

    public Optional<JsonNode> commandSchema(Handle h, TenantId tenant, ModelId model, String name) {
        return h.createQuery("SELECT params_schema FROM model_commands WHERE tenant_id = :t AND model = :m AND name = :n")
                .bind("t", tenant.value()).bind("m", model.value()).bind("n", name).mapTo(String.class).findOne().map(ModelStore::parse);
    }

    public Map<String, JsonNode> commands(Handle h, TenantId tenant, ModelId model) {
        Map<String, JsonNode> out = new LinkedHashMap<>();
        h.createQuery("SELECT name, params_schema FROM model_commands WHERE tenant_id = :t AND model = :m ORDER BY name")
                .bind("t", tenant.value()).bind("m", model.value())
                .map((rs, ctx) -> Map.entry(rs.getString(1), parse(rs.getString(2)))).forEach(e -> out.put(e.getKey(), e.getValue()));
        return out;
    }

    public boolean exists(Handle h, TenantId tenant, ModelId model) {
        return h.createQuery("SELECT COUNT(*) FROM models WHERE tenant_id = :t AND id = :m").bind("t", tenant.value()).bind("m", model.value())
                .mapTo(Long.class).one() > 0;
    }

    /** A stored JSON document (a schema, a desired or reported configuration), or null for none. */
    public static JsonNode parse(String s) {
        try {
            return s == null ? null : JSON.readTree(s);
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }
}
