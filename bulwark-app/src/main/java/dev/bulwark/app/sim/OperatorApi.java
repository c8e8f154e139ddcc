package dev.bulwark.app.sim;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import dev.bulwark.device.DeviceTls;
import java.io.IOException;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.security.cert.X509Certificate;
import java.time.Duration;
import java.util.List;
import javax.net.ssl.SSLParameters;

/**
 * The few operator REST calls the simulator needs (it plays the fleet operator that registers devices and
 * hands out enrollment tokens). TLS is verified against the platform CA; the token goes in a header only.
 */
final class OperatorApi {
    static final ObjectMapper JSON = new ObjectMapper();

    record Result(int status, JsonNode json, String body) {
    }

    private final URI base;
    private final String token;
    private final HttpClient http;

    OperatorApi(URI base, String token, List<X509Certificate> anchors) {
        this.base = base;
        this.token = token;
        SSLParameters params = new SSLParameters();
        params.setProtocols(DeviceTls.protocols());
        this.http = HttpClient.newBuilder().sslContext(DeviceTls.context(anchors, null)).sslParameters(params)
                .connectTimeout(Duration.ofSeconds(10)).build();
    }

    Result get(String path) {
        return send("GET", path, null);
    }

    Result post(String path, Object body) {
        return send("POST", path, body);
    }

    Result put(String path, Object body) {
        return send("PUT", path, body);
    }

    private Result send(String method, String path, Object body) {
        try {
            HttpRequest.Builder b = HttpRequest.newBuilder(base.resolve(path)).timeout(Duration.ofSeconds(30))
                    .header("Authorization", "Bearer " + token);
            if (body == null) {
                b.method(method, HttpRequest.BodyPublishers.noBody());
            } else {
                b.header("Content-Type", "application/json")
                        .method(method, HttpRequest.BodyPublishers.ofByteArray(JSON.writeValueAsBytes(body)));
            }
            HttpResponse<String> r = http.send(b.build(), HttpResponse.BodyHandlers.ofString());
            JsonNode json = null;
            if (r.body() != null && r.body().startsWith("{")) {
                json = JSON.readTree(r.body());
            }
            return new Result(r.statusCode(), json, r.body());
        } catch (IOException e) {
            throw new IllegalStateException("the REST API at " + base + " is unreachable: " + e.getMessage());
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new IllegalStateException("interrupted");
        }
    }

    /** Fails unless the status is one of {@code ok}. */
    static Result expect(Result r, String what, int... ok) {
        for (int s : ok) {
            if (r.status() == s) {
                return r;
            }
        }
        String detail = r.json() != null && r.json().has("detail") ? r.json().get("detail").asText() : "HTTP " + r.status();
        throw new IllegalStateException(what + " failed: " + detail);
    }
}
