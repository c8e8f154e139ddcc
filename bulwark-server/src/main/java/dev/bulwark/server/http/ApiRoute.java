package dev.bulwark.server.http;

import dev.bulwark.server.identity.Role;
import java.util.EnumSet;
import java.util.List;
import java.util.Set;

/**
 * One REST route: its shape, who may call it, how it is audited, and its handler. The router and the
 * OpenAPI document are both built from the list of routes, so a route cannot exist without being
 * documented, authenticated and role-checked.
 *
 * @param method       HTTP method
 * @param path         OpenAPI-style path, e.g. {@code /api/v1/devices/{deviceId}}
 * @param operationId  stable operation name
 * @param summary      one line for the OpenAPI document
 * @param roles        roles allowed to call it; a principal needs at least one
 * @param auditAction  the audit action name for mutating routes; null for reads
 * @param requestExample example JSON body, or null when the route takes no body
 * @param queryParams  documented query parameters
 * @param handler      the handler, run on a worker thread
 */
public record ApiRoute(String method, String path, String operationId, String summary, Set<Role> roles,
                       String auditAction, String requestExample, List<String> queryParams, int bodyLimit, Handler handler) {

    /** Handles one authenticated, authorized call. Throws {@link dev.bulwark.server.core.Refusal} to refuse. */
    @FunctionalInterface
    public interface Handler {
        Response handle(Call call) throws Exception;
    }

    public ApiRoute {
        roles = Set.copyOf(roles);
        queryParams = List.copyOf(queryParams);
    }

    public boolean mutating() {
        return auditAction != null;
    }

    public boolean takesBody() {
        return requestExample != null;
    }

    /** Path parameter names in order of appearance. */
    public List<String> pathParams() {
        return java.util.regex.Pattern.compile("\\{([A-Za-z]+)}").matcher(path).results().map(m -> m.group(1)).toList();
    }

    public String vertxPath() {
        return path.replaceAll("\\{([A-Za-z]+)}", ":$1");
    }

    public static Builder get(String path, String operationId) {
        return new Builder("GET", path, operationId);
    }

    public static Builder post(String path, String operationId) {
        return new Builder("POST", path, operationId);
    }

    public static Builder put(String path, String operationId) {
        return new Builder("PUT", path, operationId);
    }

    public static Builder delete(String path, String operationId) {
        return new Builder("DELETE", path, operationId);
    }

    /** Builds a route; {@link #build} requires roles, a summary and a handler. */
    public static final class Builder {
        private final String method;
        private final String path;
        private final String operationId;
        private String summary;
        private Set<Role> roles = EnumSet.noneOf(Role.class);
        private String auditAction;
        private String requestExample;
        private List<String> query = List.of();
        private int bodyLimit;

        private Builder(String method, String path, String operationId) {
            this.method = method;
            this.path = path;
            this.operationId = operationId;
        }

        public Builder summary(String s) { summary = s; return this; }
        public Builder roles(Role first, Role... rest) { roles = EnumSet.of(first, rest); return this; }
        public Builder roles(Set<Role> r) { roles = EnumSet.copyOf(r); return this; }
        /** Marks the route as mutating: every call is appended to the audit log under this action. */
        public Builder audit(String action) { auditAction = action; return this; }
        /** The route takes a JSON body; the example appears in the OpenAPI document. */
        public Builder body(String exampleJson) { requestExample = exampleJson; return this; }
        public Builder query(String... names) { query = List.of(names); return this; }
        /** A larger body limit than the API's default, for the few routes that take files (firmware images). */
        public Builder bodyLimit(int bytes) { bodyLimit = bytes; return this; }

        public ApiRoute handle(Handler h) {
            if (summary == null || roles.isEmpty() || h == null) {
                throw new IllegalStateException("route " + operationId + " needs a summary, roles and a handler");
            }
            if (!method.equals("GET") && auditAction == null) {
                throw new IllegalStateException("route " + operationId + " changes state and must name its audit action");
            }
            return new ApiRoute(method, path, operationId, summary, roles, auditAction, requestExample, query, bodyLimit, h);
        }
    }
}
