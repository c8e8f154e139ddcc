package dev.bulwark.server.shadow;

import static org.assertj.core.api.Assertions.assertThat;
import static org.awaitility.Awaitility.await;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import dev.bulwark.server.cli.ApiClient;
import dev.bulwark.server.testkit.Backend;
import dev.bulwark.server.testkit.NodePerTest;
import dev.bulwark.server.testkit.MqttKit;
import dev.bulwark.server.testkit.Tls;
import java.time.Duration;
import java.util.List;
import java.util.Map;
import java.util.concurrent.BlockingQueue;
import java.util.concurrent.LinkedBlockingQueue;
import java.util.concurrent.TimeUnit;
import org.eclipse.paho.client.mqttv3.MqttClient;
import org.eclipse.paho.client.mqttv3.MqttConnectOptions;
import org.eclipse.paho.client.mqttv3.persist.MemoryPersistence;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedClass;
import org.junit.jupiter.params.provider.EnumSource;

/** Desired/reported configuration and commands, end to end over the REST API and MQTT. */
@ParameterizedClass
@EnumSource(Backend.class)
class ConfigAndCommandsTest extends NodePerTest {
    static final ObjectMapper JSON = new ObjectMapper();

    String token;
    MqttKit kit;
    MqttKit.Device device;

    @BeforeEach
    void start() {
        token = server.tenantWithOperator("acme", "ops", "tenant-admin");
        kit = new MqttKit(server, token);
        device = kit.device("thermo-1");
        assertThat(api.post("/api/v1/models", token, Map.of("id", "thermo")).status()).isEqualTo(201);
        assertThat(api.send("PUT", "/api/v1/models/thermo/config-schema", token, "application/json",
                ("{\"type\":\"object\",\"properties\":{\"interval\":{\"type\":\"integer\",\"minimum\":1}},"
                        + "\"additionalProperties\":false}").getBytes()).status()).isEqualTo(200);
        assertThat(api.send("PUT", "/api/v1/models/thermo/commands/reboot", token, "application/json",
                ("{\"paramsSchema\":{\"type\":\"object\",\"properties\":{\"delay\":{\"type\":\"integer\"}},"
                        + "\"additionalProperties\":false}}").getBytes()).status()).isEqualTo(200);
    }

    private ApiClient.Result put(String path, String body) {
        return api.send("PUT", path, token, "application/json", body.getBytes());
    }

    /** A Paho (MQTT 3.1.1) device connected with its certificate, collecting what it receives. */
    private MqttClient connect(BlockingQueue<String[]> inbox, String... topics) throws Exception {
        MqttClient c = new MqttClient("ssl://localhost:" + server.node().mqttPort(), device.id(), new MemoryPersistence());
        MqttConnectOptions o = new MqttConnectOptions();
        o.setSocketFactory(Tls.clientFactory(kit.ca(), device.cert(), device.key()));
        o.setCleanSession(true);
        o.setAutomaticReconnect(false);
        c.connect(o);
        for (String t : topics) {
            c.subscribe(t, 1, (topic, msg) -> inbox.add(new String[] {topic, new String(msg.getPayload())}));
        }
        return c;
    }

    @Test
    void desired_configuration_is_validated_versioned_and_delivered_on_subscribe_and_on_change() throws Exception {
        ApiClient.Result bad = put("/api/v1/devices/thermo-1/config", "{\"interval\":0}");
        assertThat(bad.status()).isEqualTo(422);
        assertThat(bad.json().get("detail").asText()).contains("does not match the schema");
        assertThat(put("/api/v1/devices/thermo-1/config", "{\"colour\":\"red\"}").status()).isEqualTo(422);
        JsonNode first = put("/api/v1/devices/thermo-1/config", "{\"interval\":60}").json();
        assertThat(first.get("version").asLong()).isEqualTo(1);
        assertThat(first.get("sentToDevice").asBoolean()).isFalse();

        // delivered right after the device subscribes
        MqttKit.Run sub = kit.sub(device, "-i", "thermo-1", "-t", "devices/thermo-1/config/desired", "-C", "1", "-W", "10");
        assertThat(sub.output()).contains("{\"version\":1,\"desired\":{\"interval\":60}}");

        // and on change, to a connected device
        BlockingQueue<String[]> inbox = new LinkedBlockingQueue<>();
        MqttClient c = connect(inbox, "devices/thermo-1/config/desired");
        try {
            String[] onSubscribe = inbox.poll(10, TimeUnit.SECONDS);
            assertThat(onSubscribe).isNotNull();
            assertThat(put("/api/v1/devices/thermo-1/config", "{\"interval\":30}").json().get("sentToDevice").asBoolean()).isTrue();
            String[] pushed = inbox.poll(10, TimeUnit.SECONDS);
            assertThat(pushed).isNotNull();
            assertThat(JSON.readTree(pushed[1]).get("version").asLong()).isEqualTo(2);
            assertThat(JSON.readTree(pushed[1]).get("desired").get("interval").asInt()).isEqualTo(30);
        } finally {
            c.disconnect();
        }
    }

    @Test
    void reported_configuration_is_stored_and_the_delta_shows_what_is_not_applied_yet() {
        put("/api/v1/devices/thermo-1/config", "{\"interval\":60}");
        long syncs = server.node().db().syncs();
        assertThat(kit.pub(device, "-i", "thermo-1", "-q", "1", "-t", "devices/thermo-1/config/reported", "-m", "{\"interval\":300}")
                .output()).contains("PUBACK");
        if (backend == Backend.H2) {
            // on the embedded database the acknowledgement came after a sync to disk, as for telemetry
            assertThat(server.node().db().syncs()).isGreaterThan(syncs);
        }
        JsonNode cfg = api.get("/api/v1/devices/thermo-1/config", token).json();
        assertThat(cfg.get("reported").get("interval").asInt()).isEqualTo(300);
        assertThat(cfg.get("delta").get("interval").asInt()).isEqualTo(60);
        kit.pub(device, "-i", "thermo-1", "-q", "1", "-t", "devices/thermo-1/config/reported", "-m", "{\"interval\":60}");
        assertThat(api.get("/api/v1/devices/thermo-1/config", token).json().get("delta").size()).isZero();
        // a report that is not a JSON object is refused and recorded
        MqttKit.Run bad = kit.pub(device, "-i", "thermo-1", "-q", "1", "-V", "mqttv5", "-t", "devices/thermo-1/config/reported", "-m", "[1]");
        assertThat(bad.output()).contains("DISCONNECT (153)");
        // every acknowledged report is kept in the device's history, as the README lists it
        JsonNode history = api.get("/api/v1/devices/thermo-1/telemetry?kind=config-reported", token).json().get("items");
        assertThat(history).hasSize(2);
        assertThat(history.get(0).get("payload").get("interval").asInt()).isEqualTo(300);
        assertThat(history.get(1).get("payload").get("interval").asInt()).isEqualTo(60);
        assertThat(history.get(0).get("kind").asText()).isEqualTo("config-reported");
    }

    @Test
    void only_allowlisted_commands_with_valid_params_are_accepted() {
        ApiClient.Result unknown = api.post("/api/v1/devices/thermo-1/commands", token, Map.of("name", "format-disk", "params", Map.of()));
        assertThat(unknown.status()).isEqualTo(422);
        assertThat(unknown.json().get("detail").asText()).contains("not on the allowlist");
        ApiClient.Result badParams = api.post("/api/v1/devices/thermo-1/commands", token,
                Map.of("name", "reboot", "params", Map.of("delay", "soon")));
        assertThat(badParams.status()).isEqualTo(422);
        ApiClient.Result badTtl = api.post("/api/v1/devices/thermo-1/commands", token, Map.of("name", "reboot", "ttlSeconds", 0));
        assertThat(badTtl.status()).isEqualTo(422);
        assertThat(server.count("SELECT COUNT(*) FROM commands")).isZero();
    }

    @Test
    void a_command_is_queued_while_offline_delivered_on_subscribe_and_its_result_recorded() throws Exception {
        JsonNode cmd = api.post("/api/v1/devices/thermo-1/commands", token,
                Map.of("name", "reboot", "params", Map.of("delay", 5), "ttlSeconds", 600)).json();
        String id = cmd.get("id").asText();
        assertThat(cmd.get("state").asText()).isEqualTo("queued");

        BlockingQueue<String[]> inbox = new LinkedBlockingQueue<>();
        MqttClient c = connect(inbox, "devices/thermo-1/commands");
        try {
            String[] got = inbox.poll(10, TimeUnit.SECONDS);
            assertThat(got).isNotNull();
            JsonNode msg = JSON.readTree(got[1]);
            assertThat(msg.get("id").asText()).isEqualTo(id);
            assertThat(msg.get("name").asText()).isEqualTo("reboot");
            assertThat(msg.get("params").get("delay").asInt()).isEqualTo(5);
            await().atMost(Duration.ofSeconds(10)).until(() ->
                    api.get("/api/v1/devices/thermo-1/commands/" + id, token).json().get("state").asText().equals("delivered"));
            c.publish("devices/thermo-1/commands/" + id + "/result", "{\"status\":\"succeeded\",\"result\":{\"uptime\":0}}".getBytes(), 1, false);
            JsonNode done = api.get("/api/v1/devices/thermo-1/commands/" + id, token).json();
            assertThat(done.get("state").asText()).isEqualTo("succeeded");
            assertThat(done.get("result").get("uptime").asInt()).isZero();
            // stored sealed under the device's ownership-period key
            String storedResult = server.sql(h -> h.createQuery("SELECT result FROM commands WHERE id = :id").bind("id", id)
                    .mapTo(String.class).one());
            assertThat(storedResult).startsWith("sealed:").doesNotContain("uptime");

            // a live command reaches the connected device at once
            String live = api.post("/api/v1/devices/thermo-1/commands", token, Map.of("name", "reboot")).json().get("id").asText();
            String[] second = inbox.poll(10, TimeUnit.SECONDS);
            assertThat(second).isNotNull();
            assertThat(JSON.readTree(second[1]).get("id").asText()).isEqualTo(live);
            c.publish("devices/thermo-1/commands/" + live + "/result", "{\"status\":\"failed\",\"result\":\"busy\"}".getBytes(), 1, false);
            assertThat(api.get("/api/v1/devices/thermo-1/commands/" + live, token).json().get("state").asText()).isEqualTo("failed");
            JsonNode results = api.get("/api/v1/devices/thermo-1/telemetry?kind=command-result", token).json().get("items");
            assertThat(results).hasSize(2);
            assertThat(results.get(0).get("payload").get("result").get("uptime").asInt()).isZero();
            assertThat(results.get(1).get("payload").get("result").asText()).isEqualTo("busy");
        } finally {
            c.disconnect();
        }
    }

    @Test
    void a_command_that_is_not_delivered_in_time_expires() {
        String id = api.post("/api/v1/devices/thermo-1/commands", token, Map.of("name", "reboot", "ttlSeconds", 60)).json().get("id").asText();
        server.clock().advance(Duration.ofMinutes(2));
        await().atMost(Duration.ofSeconds(10)).until(() ->
                api.get("/api/v1/devices/thermo-1/commands/" + id, token).json().get("state").asText().equals("expired"));
        MqttKit.Run sub = kit.sub(device, "-i", "thermo-1", "-t", "devices/thermo-1/commands", "-C", "1", "-W", "3");
        assertThat(sub.output()).doesNotContain(id);
    }

    @Test
    void a_device_cannot_complete_another_devices_command() {
        kit.device("thermo-2");
        String id = api.post("/api/v1/devices/thermo-2/commands", token, Map.of("name", "reboot")).json().get("id").asText();
        kit.pub(device, "-i", "thermo-1", "-q", "1", "-t", "devices/thermo-1/commands/" + id + "/result", "-m", "{\"status\":\"succeeded\"}");
        assertThat(api.get("/api/v1/devices/thermo-2/commands/" + id, token).json().get("state").asText()).isEqualTo("queued");
        await().atMost(Duration.ofSeconds(10)).until(() -> server.count(
                "SELECT COUNT(*) FROM security_events WHERE type = 'mqtt-command-result-refused'") > 0);
    }

    @Test
    void schemas_and_commands_apply_only_to_registered_models() {
        assertThat(put("/api/v1/models/unknown/config-schema", "{\"type\":\"object\"}").status()).isEqualTo(404);
        assertThat(put("/api/v1/models/unknown/commands/reboot", "{\"paramsSchema\":{}}").status()).isEqualTo(404);
        assertThat(api.post("/api/v1/models", token, Map.of("id", "thermo")).status()).isEqualTo(409);
        assertThat(server.count("SELECT COUNT(*) FROM models WHERE id = 'unknown'")).isZero();
    }

    @Test
    void a_schema_that_references_a_remote_document_is_refused() {
        ApiClient.Result r = put("/api/v1/models/thermo/config-schema",
                "{\"type\":\"object\",\"properties\":{\"a\":{\"$ref\":\"http://127.0.0.1:1/evil.json\"}}}");
        assertThat(r.status()).isEqualTo(422);
        assertThat(r.json().get("detail").asText()).contains("only their own definitions");
        List<String> unchanged = List.of(api.get("/api/v1/models/thermo", token).json().get("configSchema").toString());
        assertThat(unchanged.get(0)).doesNotContain("evil");
    }
}
