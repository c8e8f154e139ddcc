package dev.bulwark.server.api;

import static dev.bulwark.server.identity.Role.AUDITOR;
import static dev.bulwark.server.identity.Role.FLEET_OPERATOR;
import static dev.bulwark.server.identity.Role.SECURITY_ANALYST;
import static dev.bulwark.server.identity.Role.TENANT_ADMIN;

import com.fasterxml.jackson.databind.ObjectMapper;
import dev.bulwark.protocol.DeviceId;
import dev.bulwark.protocol.TenantId;
import dev.bulwark.server.core.Refusal;
import dev.bulwark.server.core.Views;
import dev.bulwark.server.device.DeviceStore;
import dev.bulwark.server.http.ApiRoute;
import dev.bulwark.server.http.Call;
import dev.bulwark.server.http.Response;
import dev.bulwark.server.telemetry.StoredMessage;
import dev.bulwark.server.telemetry.TelemetryStore;
import java.time.Instant;
import java.time.format.DateTimeParseException;
import java.util.Base64;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;

/** Reading what devices sent: telemetry (default) or events, by time range, with cursor pagination. */
public final class TelemetryRoutes {
    private static final Set<String> KINDS = Set.of("telemetry", "events", "config-reported", "command-result");
    private static final ObjectMapper JSON = new ObjectMapper();

    private final DeviceStore devices;
    private final dev.bulwark.server.ownership.Ownership ownership;
    private final TelemetryStore store;

    public TelemetryRoutes(DeviceStore devices, dev.bulwark.server.ownership.Ownership ownership, TelemetryStore store) {
        this.devices = devices;
        this.ownership = ownership;
        this.store = store;
    }

    public List<ApiRoute> routes() {
        return List.of(ApiRoute.get("/api/v1/devices/{deviceId}/telemetry", "listTelemetry")
                .summary("Messages a device sent (kind=telemetry by default, or events), oldest first")
                .roles(TENANT_ADMIN, FLEET_OPERATOR, SECURITY_ANALYST, AUDITOR, dev.bulwark.server.identity.Role.OWNER)
                .query("from", "to", "limit", "cursor", "kind").handle(this::list));
    }

    private Response list(Call call) {
        TenantId tenant = call.tenant();
        DeviceId device = call.path("deviceId", DeviceId::of);
        long from = time(call.query("from"), 0);
        long to = time(call.query("to"), Long.MAX_VALUE);
        int limit = call.queryInt("limit", 100, 1, 1000);
        String kind = call.query("kind") == null ? "telemetry" : call.query("kind");
        if (!KINDS.contains(kind)) {
            throw Refusal.invalid("kind must be one of " + String.join(", ", KINDS));
        }
        String cursor = Views.decodeCursor(call.query("cursor"));
        long after;
        try {
            after = cursor.isEmpty() ? 0 : Long.parseLong(cursor);
        } catch (NumberFormatException e) {
            throw Refusal.invalid("cursor is not a cursor returned by this API");
        }
        // an owner (and only an owner) reads only what arrived in their own ownership periods of this device
        boolean ownerOnly = call.principal().roles().equals(java.util.Set.of(dev.bulwark.server.identity.Role.OWNER));
        store.flush(); // what is acknowledged is readable: move the log's latest blocks into segments first
        var rows = call.read(h -> {
            devices.require(h, tenant, device);
            java.util.List<String> keys = ownerOnly ? ownership.ofDevice(h, tenant, device).stream()
                    .filter(p -> call.principal().name().equals(p.ownerId())).map(p -> p.keyId()).toList() : null;
            if (keys != null && keys.isEmpty()) {
                throw Refusal.notFound(); // not their device, or not any more: as if it did not exist
            }
            return store.page(h, new TelemetryStore.Query(tenant.value(), device.value(), kind, keys, from, to, after), limit).stream()
                    .map(this::view).toList();
        });
        Map<String, Object> out = new LinkedHashMap<>();
        out.put("items", rows);
        out.put("nextCursor", rows.size() == limit ? Views.cursor(String.valueOf(rows.get(rows.size() - 1).get("id"))) : null);
        return Response.ok(out);
    }

    private Map<String, Object> view(StoredMessage sm) {
        Map<String, Object> m = new LinkedHashMap<>();
        m.put("id", sm.seq());
        m.put("receivedAt", Views.time(sm.receivedMs()));
        m.put("kind", sm.kind());
        m.put("qos", sm.qos());
        m.put("channel", sm.channel());
        m.put("source", sm.source());
        m.put("connection", sm.connection());
        byte[] payload = store.open(sm).orElse(new byte[0]); // a destroyed key: nothing can be read, and nothing is shown
        m.put("payloadBase64", Base64.getEncoder().encodeToString(payload));
        m.put("payload", asJson(payload));
        return m;
    }

    /** The payload as JSON when it is JSON, else null (the base64 form is always there). */
    private static Object asJson(byte[] payload) {
        try {
            return JSON.readTree(payload);
        } catch (java.io.IOException e) {
            return null;
        }
    }

    private static long time(String value, long dflt) {
        if (value == null) {
            return dflt;
        }
        try {
            return Instant.parse(value).toEpochMilli();
        } catch (DateTimeParseException e) {
            throw Refusal.invalid("from and to must be ISO-8601 instants, e.g. 2026-01-31T12:00:00Z");
        }
    }
}
