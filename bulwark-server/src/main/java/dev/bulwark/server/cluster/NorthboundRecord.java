package dev.bulwark.server.cluster;

import com.fasterxml.jackson.core.JsonProcessingException;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ObjectNode;
import java.util.Base64;

/**
 * One committed device message as it goes out on its tenant's topic {@code <prefix>.data.<tenant>}, keyed by the
 * device id (so one device's records stay in one partition, in order). The value is a JSON object:
 * <pre>{"tenant":"acme","device":"sensor-1","kind":"telemetry","time":1764581400123,"sequence":81604378625,
 *  "period":"op-3f2a9c10d4e5b6a7","payload":"eyJ0IjoyMS41fQ=="}</pre>
 * <ul>
 *   <li>{@code kind}: {@code telemetry}, {@code events}, {@code config-reported} or {@code command-result};</li>
 *   <li>{@code time}: when the node received the message, in ms since the epoch (the record's Kafka timestamp is
 *       when it was committed);</li>
 *   <li>{@code sequence}: the stored message's id (the {@code id} the REST API shows): unique in the cluster, so a
 *       record seen twice is recognized;</li>
 *   <li>{@code period}: the ownership period the message belongs to (null only for a benchmark node that stores
 *       payloads unsealed);</li>
 *   <li>{@code payload}: the payload the device sent, in clear, base64.</li>
 * </ul>
 */
public record NorthboundRecord(String tenant, String device, String kind, long time, long sequence, String period, byte[] payload) {
    private static final ObjectMapper JSON = new ObjectMapper();

    /** The topic of {@code tenant}'s data, without the cluster's prefix. */
    public static String topic(String tenant) {
        return "data." + tenant;
    }

    public byte[] json() {
        ObjectNode o = JSON.createObjectNode();
        o.put("tenant", tenant);
        o.put("device", device);
        o.put("kind", kind);
        o.put("time", time);
        o.put("sequence", sequence);
        o.put("period", period);
        o.put("payload", Base64.getEncoder().encodeToString(payload));
        try {
            return JSON.writeValueAsBytes(o);
        } catch (JsonProcessingException e) {
            throw new IllegalStateException(e);
        }
    }
}
