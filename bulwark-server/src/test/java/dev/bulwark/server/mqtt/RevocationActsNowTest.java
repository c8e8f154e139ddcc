package dev.bulwark.server.mqtt;

import static org.assertj.core.api.Assertions.assertThat;
import static org.awaitility.Awaitility.await;

import dev.bulwark.protocol.DeviceId;
import dev.bulwark.protocol.TenantId;
import dev.bulwark.server.cli.ApiClient;
import dev.bulwark.server.testkit.Backend;
import dev.bulwark.server.testkit.MqttKit;
import dev.bulwark.server.testkit.TestServer;
import java.time.Duration;
import java.util.List;
import java.util.concurrent.CompletableFuture;
import java.util.function.Function;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.TestInstance;

/**
 * Revocation acts now: disabling or deleting a device, or revoking the certificate or token its live
 * session authenticated with, closes that session within a second, and the closing is recorded.
 */
@TestInstance(TestInstance.Lifecycle.PER_CLASS)
class RevocationActsNowTest {
    TestServer server;
    MqttKit kit;
    String token;

    @BeforeAll
    void start() {
        server = TestServer.start(Backend.H2);
        token = server.tenantWithOperator("acme", "ops", "tenant-admin");
        kit = new MqttKit(server, token);
    }

    @AfterAll
    void stop() {
        server.close();
    }

    /** Connects the device with mosquitto_sub (30 s), applies {@code revoke}, and checks it is cut off at once. */
    private void assertCutOff(MqttKit.Device d, List<String> auth, Function<MqttKit.Device, ApiClient.Result> revoke) {
        List<String> cmd = new java.util.ArrayList<>(List.of("mosquitto_sub", "-h", "localhost", "-p", String.valueOf(server.node().mqttPort()),
                "--cafile", kit.ca().toString(), "-i", d.id(), "-t", "devices/" + d.id() + "/commands", "-W", "30", "-V", "mqttv5", "-d"));
        cmd.addAll(auth);
        CompletableFuture<MqttKit.Run> sub = CompletableFuture.supplyAsync(() -> MqttKit.run(cmd, 40));
        TenantId acme = TenantId.of("acme");
        DeviceId id = DeviceId.of(d.id());
        await().atMost(Duration.ofSeconds(10)).until(() -> server.node().mqtt().sessions().connected(acme, id));
        assertThat(revoke.apply(d).status()).isBetween(200, 204);
        await().atMost(Duration.ofSeconds(1)).until(() -> !server.node().mqtt().sessions().connected(acme, id));
        MqttKit.Run run = sub.join();
        assertThat(run.output()).contains("DISCONNECT (152)");   // MQTT 5: administrative action
        await().atMost(Duration.ofSeconds(10)).until(() -> server.count("SELECT COUNT(*) FROM security_events WHERE type = "
                + "'session-terminated' AND identity LIKE '%" + d.id() + "%'") > 0);
    }

    private List<String> certAuth(MqttKit.Device d) {
        return List.of("--cert", d.cert().toString(), "--key", d.key().toString());
    }

    @Test
    void disabling_a_device_closes_its_live_session() {
        MqttKit.Device d = kit.device("rev-disable");
        assertCutOff(d, certAuth(d), x -> server.api().post("/api/v1/devices/rev-disable/disable", token, null));
    }

    @Test
    void deleting_a_device_closes_its_live_session() {
        MqttKit.Device d = kit.device("rev-delete");
        assertCutOff(d, certAuth(d), x -> server.api().delete("/api/v1/devices/rev-delete", token));
    }

    @Test
    void revoking_the_certificate_of_a_live_session_closes_it() {
        MqttKit.Device d = kit.device("rev-cert");
        assertCutOff(d, certAuth(d), x -> server.api().post("/api/v1/devices/rev-cert/certificates/" + x.serial() + "/revoke", token, null));
    }

    @Test
    void revoking_the_token_of_a_live_session_closes_it() {
        server.createDevice(token, "rev-token", "thermo");
        ApiClient.Result issued = server.api().post("/api/v1/devices/rev-token/tokens", token, null);
        String tokenId = issued.json().get("id").asText();
        MqttKit.Device d = new MqttKit.Device("rev-token", null, null, "");
        assertCutOff(d, List.of("-u", "rev-token@acme", "-P", issued.json().get("token").asText()),
                x -> server.api().delete("/api/v1/devices/rev-token/tokens/" + tokenId, token));
    }
}
