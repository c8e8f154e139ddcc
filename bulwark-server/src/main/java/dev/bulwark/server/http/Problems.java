package dev.bulwark.server.http;

import com.fasterxml.jackson.core.JsonProcessingException;
import dev.bulwark.server.core.Refusal;
import io.vertx.core.http.HttpServerResponse;
import java.util.LinkedHashMap;
import java.util.Map;

/** Writes RFC 9457 problem details. The detail is the refusal's reason; there is never a stack trace. */
final class Problems {
    private Problems() {
    }

    static void send(HttpServerResponse response, Refusal.Kind kind, String detail) {
        if (response.ended() || response.headWritten()) {
            return;
        }
        Map<String, Object> p = new LinkedHashMap<>();
        p.put("type", kind.type());
        p.put("title", kind.title);
        p.put("status", kind.status);
        p.put("detail", detail);
        String body;
        try {
            body = Json.MAPPER.writeValueAsString(p);
        } catch (JsonProcessingException e) {
            body = "{\"type\":\"" + kind.type() + "\",\"status\":" + kind.status + "}";
        }
        response.setStatusCode(kind.status).putHeader("Content-Type", "application/problem+json");
        if (kind == Refusal.Kind.UNAUTHENTICATED) {
            response.putHeader("WWW-Authenticate", "Bearer realm=\"bulwark\"");
        }
        response.end(body);
    }

    static void internal(HttpServerResponse response, String incidentId) {
        if (response.ended() || response.headWritten()) {
            return;
        }
        response.setStatusCode(500).putHeader("Content-Type", "application/problem+json")
                .end("{\"type\":\"urn:bulwark:problem:internal-error\",\"title\":\"Internal error\",\"status\":500,"
                        + "\"detail\":\"the request failed inside the server; nothing was changed. Reference: " + incidentId + "\"}");
    }
}
