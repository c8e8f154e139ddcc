package dev.bulwark.server.http;

import com.fasterxml.jackson.core.JsonProcessingException;
import com.fasterxml.jackson.databind.exc.MismatchedInputException;
import com.fasterxml.jackson.databind.exc.UnrecognizedPropertyException;
import dev.bulwark.protocol.TenantId;
import dev.bulwark.server.audit.AuditEntry;
import dev.bulwark.server.audit.AuditLog;
import dev.bulwark.server.core.Refusal;
import dev.bulwark.server.identity.OperatorPrincipal;
import dev.bulwark.server.store.Database;
import dev.bulwark.server.store.UnitOfWork;
import io.vertx.core.buffer.Buffer;
import io.vertx.ext.web.RoutingContext;
import java.io.IOException;
import java.util.function.Function;
import java.util.stream.Collectors;
import org.jdbi.v3.core.Handle;

/**
 * One authenticated, authorized API call as a handler sees it.
 *
 * <p>Mutations go through {@link #tx}: the handler's database work and the audit entry for the call
 * commit in one transaction. A call that is refused is audited by the dispatcher instead.
 */
public final class Call {
    private final RoutingContext ctx;
    private final ApiRoute route;
    private final OperatorPrincipal principal;
    private final Database db;
    private final AuditLog audit;
    private final String source;
    private String target = "";
    private boolean audited;

    Call(RoutingContext ctx, ApiRoute route, OperatorPrincipal principal, Database db, AuditLog audit, String source) {
        this.ctx = ctx;
        this.route = route;
        this.principal = principal;
        this.db = db;
        this.audit = audit;
        this.source = source;
    }

    public OperatorPrincipal principal() {
        return principal;
    }

    /** The caller's tenant; platform operators are refused (they read no tenant data). */
    public TenantId tenant() {
        return principal.requireTenant();
    }

    public String source() {
        return source;
    }

    /** The caller's address (for security events), or null when unknown. */
    public String sourceAddress() {
        var a = ctx.request().remoteAddress();
        return a == null ? null : a.hostAddress();
    }

    /** The caller's port (for security events), or 0 when unknown. */
    public int sourcePort() {
        var a = ctx.request().remoteAddress();
        return a == null ? 0 : a.port();
    }

    /** A path parameter parsed with {@code parser}; an invalid value is answered 404 (there is no such object). */
    public <T> T path(String name, Function<String, T> parser) {
        String raw = ctx.pathParam(name);
        try {
            return parser.apply(raw);
        } catch (IllegalArgumentException e) {
            throw Refusal.notFound();
        }
    }

    public String path(String name) {
        return ctx.pathParam(name);
    }

    /** An optional query parameter; refuses repeated parameters. */
    public String query(String name) {
        var all = ctx.queryParam(name);
        if (all.size() > 1) {
            throw new Refusal(Refusal.Kind.MALFORMED, "query parameter '" + name + "' given more than once");
        }
        return all.isEmpty() ? null : all.get(0);
    }

    public int queryInt(String name, int dflt, int min, int max) {
        String v = query(name);
        if (v == null) {
            return dflt;
        }
        try {
            int n = Integer.parseInt(v);
            if (n < min || n > max) {
                throw Refusal.invalid("query parameter '" + name + "' must be between " + min + " and " + max);
            }
            return n;
        } catch (NumberFormatException e) {
            throw Refusal.invalid("query parameter '" + name + "' must be an integer");
        }
    }

    /**
     * The JSON body as {@code type}. Refuses a wrong content type (415), an empty body, malformed JSON,
     * unknown or duplicate fields and wrong types (400).
     */
    public <T> T body(Class<T> type) {
        return decode(rawJson(), type);
    }

    /** The checks of {@link #body} on bytes already read: a {@code type} or a {@link Refusal} (400), nothing else. */
    static <T> T decode(byte[] b, Class<T> type) {
        try {
            T value = Json.MAPPER.readValue(b, type);
            if (value == null) {
                throw new Refusal(Refusal.Kind.MALFORMED, "request body must be a JSON object");
            }
            return value;
        } catch (UnrecognizedPropertyException e) {
            throw new Refusal(Refusal.Kind.MALFORMED, "unknown field '" + clip(e.getPropertyName()) + "'; known fields: "
                    + e.getKnownPropertyIds().stream().map(Object::toString).sorted().collect(Collectors.joining(", ")));
        } catch (MismatchedInputException e) {
            String field = e.getPath().stream().map(r -> r.getFieldName() == null ? "[" + r.getIndex() + "]" : r.getFieldName())
                    .collect(Collectors.joining("."));
            throw new Refusal(Refusal.Kind.MALFORMED, field.isEmpty() ? "request body has the wrong shape; a JSON object is expected"
                    : "field '" + clip(field) + "' has the wrong type");
        } catch (JsonProcessingException e) {
            String msg = e.getOriginalMessage();
            if (msg != null && msg.startsWith("Duplicate field")) {
                throw new Refusal(Refusal.Kind.MALFORMED, "duplicate field in JSON object");
            }
            throw new Refusal(Refusal.Kind.MALFORMED, "malformed JSON at line " + (e.getLocation() == null ? "?" : e.getLocation().getLineNr())
                    + ", column " + (e.getLocation() == null ? "?" : e.getLocation().getColumnNr()));
        } catch (IOException e) {
            throw new Refusal(Refusal.Kind.MALFORMED, "request body cannot be read");
        }
    }

    /** The raw JSON body (for signed documents whose exact bytes matter); refuses a wrong content type or an empty body. */
    public byte[] rawJson() {
        String ct = ctx.request().getHeader("Content-Type");
        String mediaType = ct == null ? "" : ct.split(";", 2)[0].trim().toLowerCase(java.util.Locale.ROOT);
        if (!mediaType.equals("application/json")) {
            throw new Refusal(Refusal.Kind.UNSUPPORTED_MEDIA_TYPE, "request body must be application/json");
        }
        String charset = charset(ct);
        if (charset != null && !charset.equals("utf-8")) {
            throw new Refusal(Refusal.Kind.UNSUPPORTED_MEDIA_TYPE, "request body must be application/json in UTF-8; charset '"
                    + clip(charset) + "' is not accepted");
        }
        Buffer b = ctx.body().buffer();
        if (b == null || b.length() == 0) {
            throw new Refusal(Refusal.Kind.MALFORMED, "request body is required");
        }
        return b.getBytes();
    }

    /**
     * The {@code charset} parameter of a media type, lower case and unquoted; null when absent. A parameter
     * given twice, or one that cannot be read, counts as a charset that is not UTF-8.
     */
    static String charset(String contentType) {
        String[] parts = contentType.split(";");
        String found = null;
        for (int i = 1; i < parts.length; i++) {
            String p = parts[i].trim();
            int eq = p.indexOf('=');
            String name = (eq < 0 ? p : p.substring(0, eq)).trim().toLowerCase(java.util.Locale.ROOT);
            if (!name.equals("charset")) {
                continue;
            }
            String value = eq < 0 ? "" : p.substring(eq + 1).trim();
            if (value.length() >= 2 && value.startsWith("\"") && value.endsWith("\"")) {
                value = value.substring(1, value.length() - 1);
            }
            value = value.toLowerCase(java.util.Locale.ROOT);
            if (found != null && !found.equals(value)) {
                return "(" + found + ", " + value + ")";
            }
            found = value;
        }
        return found;
    }

    private static String clip(String s) {
        if (s == null) {
            return "";
        }
        String printable = s.replaceAll("[^\\x20-\\x7e]", "?");
        return printable.length() > 64 ? printable.substring(0, 64) + "..." : printable;
    }

    /** Names the object of this call in its audit entry (e.g. {@code device:thermo-0001}). */
    public Call target(String target) {
        this.target = target;
        return this;
    }

    String target() {
        return target;
    }

    /**
     * Runs {@code work} in one transaction together with this call's audit entry (outcome success).
     * If {@code work} throws, nothing is written and the dispatcher audits the refusal.
     */
    public <R> R tx(UnitOfWork<R> work) {
        return tx(work, null);
    }

    /** As {@link #tx(UnitOfWork)}, with a short detail for the audit entry (never a secret). */
    public <R> R tx(UnitOfWork<R> work, String detail) {
        if (route.auditAction() == null) {
            throw new IllegalStateException("read-only route " + route.operationId() + " cannot open a write transaction");
        }
        return db.tx((Handle h) -> {
            R r = work.run(h);
            audit.append(h, new AuditEntry(principal.tenant() == null ? null : principal.tenant().value(),
                    principal.actor(), route.auditAction(), target, source, AuditEntry.SUCCESS, detail));
            audited = true;
            return r;
        });
    }

    /**
     * Inside {@link #tx}: records this call also in the audit log of {@code affected}, the tenant it acts upon
     * when that is not the caller's own (a platform admin provisioning a tenant's operator), so the
     * tenant's own auditors see what was done to it and by whom.
     */
    public void auditAlsoIn(Handle h, TenantId affected, String action, String detail) {
        audit.append(h, new AuditEntry(affected.value(), principal.actor(), action, target, source, AuditEntry.SUCCESS, detail));
    }

    /** Reads in auto-commit mode. */
    public <R> R read(UnitOfWork<R> work) {
        return db.read(work::run);
    }

    boolean audited() {
        return audited;
    }
}
