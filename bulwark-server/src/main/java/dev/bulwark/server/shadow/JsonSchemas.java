package dev.bulwark.server.shadow;

import com.fasterxml.jackson.databind.JsonNode;
import com.networknt.schema.JsonSchema;
import com.networknt.schema.JsonSchemaFactory;
import com.networknt.schema.SpecVersion;
import com.networknt.schema.ValidationMessage;
import dev.bulwark.server.core.Refusal;
import java.util.Set;
import java.util.stream.Collectors;

/** JSON Schema (draft 2020-12) for device configuration and command parameters. */
public final class JsonSchemas {
    private static final JsonSchemaFactory FACTORY = JsonSchemaFactory.getInstance(SpecVersion.VersionFlag.V202012);

    private JsonSchemas() {
    }

    /** Compiles a schema given by an operator; refuses one that is not a JSON object or does not compile. */
    public static JsonSchema compile(JsonNode schema) {
        if (schema == null || !schema.isObject()) {
            throw Refusal.invalid("a JSON Schema must be a JSON object");
        }
        rejectExternalReferences(schema, 0);
        try {
            JsonSchema compiled = FACTORY.getSchema(schema);
            compiled.initializeValidators();
            return compiled;
        } catch (RuntimeException e) {
            throw Refusal.invalid("not a valid JSON Schema");
        }
    }

    /**
     * A schema may reference only its own definitions: a {@code $ref} to a URL would make the server fetch
     * it (a request forgery from an operator-supplied document), so any reference, id or anchor that is
     * not a local fragment is refused, at any depth.
     */
    private static void rejectExternalReferences(JsonNode node, int depth) {
        if (depth > 64) {
            throw Refusal.invalid("the schema is nested too deeply");
        }
        if (node.isObject()) {
            for (var f : node.properties()) {
                String key = f.getKey();
                if ((key.equals("$ref") || key.equals("$dynamicRef") || key.equals("$recursiveRef"))
                        && !(f.getValue().isTextual() && f.getValue().asText().startsWith("#"))) {
                    throw Refusal.invalid("schemas may reference only their own definitions (\"$ref\": \"#/...\")");
                }
                if ((key.equals("$id") || key.equals("$schema")) && f.getValue().isTextual()
                        && !(key.equals("$schema") && f.getValue().asText().startsWith("https://json-schema.org/"))) {
                    throw Refusal.invalid("schemas may not set " + key + " (other than a json-schema.org $schema)");
                }
                rejectExternalReferences(f.getValue(), depth + 1);
            }
        } else if (node.isArray()) {
            for (JsonNode n : node) {
                rejectExternalReferences(n, depth + 1);
            }
        }
    }

    /** Validates {@code document}; refuses with every violation named. */
    public static void validate(JsonSchema schema, JsonNode document, String what) {
        Set<ValidationMessage> errors = schema.validate(document);
        if (!errors.isEmpty()) {
            throw Refusal.invalid(what + " does not match the schema: "
                    + errors.stream().map(ValidationMessage::getMessage).sorted().limit(10).collect(Collectors.joining("; ")));
        }
    }
}
