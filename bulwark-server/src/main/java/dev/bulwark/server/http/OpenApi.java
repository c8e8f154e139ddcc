package dev.bulwark.server.http;

import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import dev.bulwark.server.identity.Role;
import java.io.IOException;
import java.util.List;
import java.util.Locale;

/**
 * Builds the OpenAPI 3.1 document from the route list. Each operation carries {@code x-bulwark-roles}
 * (who may call it) and, for mutations, {@code x-bulwark-audit-action}.
 */
final class OpenApi {
    private OpenApi() {
    }

    static ObjectNode document(List<ApiRoute> routes, String version) {
        ObjectNode doc = Json.MAPPER.createObjectNode();
        doc.put("openapi", "3.1.0");
        ObjectNode info = doc.putObject("info");
        info.put("title", "Bulwark API");
        info.put("version", version);
        info.put("description", "Operator API of Bulwark. Every route needs a bearer token; errors are RFC 9457 problem+json.");
        ObjectNode schemes = doc.putObject("components").putObject("securitySchemes");
        schemes.putObject("bearer").put("type", "http").put("scheme", "bearer");
        doc.putArray("security").addObject().putArray("bearer");
        ObjectNode paths = doc.putObject("paths");
        for (ApiRoute r : routes) {
            ObjectNode path = paths.has(r.path()) ? (ObjectNode) paths.get(r.path()) : paths.putObject(r.path());
            ObjectNode op = path.putObject(r.method().toLowerCase(Locale.ROOT));
            op.put("operationId", r.operationId());
            op.put("summary", r.summary());
            ArrayNode roles = op.putArray("x-bulwark-roles");
            r.roles().stream().sorted().map(Role::wireName).forEach(roles::add);
            if (r.auditAction() != null) {
                op.put("x-bulwark-audit-action", r.auditAction());
            }
            ArrayNode params = op.putArray("parameters");
            for (String p : r.pathParams()) {
                ObjectNode pn = params.addObject();
                pn.put("name", p).put("in", "path").put("required", true);
                pn.putObject("schema").put("type", "string");
            }
            for (String q : r.queryParams()) {
                ObjectNode pn = params.addObject();
                pn.put("name", q).put("in", "query").put("required", false);
                pn.putObject("schema").put("type", "string");
            }
            if (r.takesBody()) {
                ObjectNode media = op.putObject("requestBody").put("required", true).putObject("content").putObject("application/json");
                media.putObject("schema").put("type", "object");
                try {
                    media.set("example", Json.MAPPER.readTree(r.requestExample()));
                } catch (IOException e) {
                    throw new IllegalStateException("route " + r.operationId() + " has an invalid example body", e);
                }
            }
            ObjectNode responses = op.putObject("responses");
            responses.putObject(r.method().equals("POST") && r.auditAction() != null && r.operationId().startsWith("create") ? "201" : "200")
                    .put("description", "success");
            for (String code : List.of("400", "401", "403", "404", "409", "413", "415", "422")) {
                responses.putObject(code).put("description", "problem+json").putObject("content")
                        .putObject("application/problem+json").putObject("schema").put("type", "object");
            }
        }
        return doc;
    }
}
