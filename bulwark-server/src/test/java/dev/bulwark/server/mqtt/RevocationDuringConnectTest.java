package dev.bulwark.server.mqtt;

import static org.assertj.core.api.Assertions.assertThat;
import static org.awaitility.Awaitility.await;

import dev.bulwark.protocol.DeviceId;
import dev.bulwark.protocol.TenantId;
import dev.bulwark.server.cli.ApiClient;
import dev.bulwark.server.identity.AuthOutcome;
import dev.bulwark.server.testkit.Backend;
import dev.bulwark.server.testkit.MqttKit;
import dev.bulwark.server.testkit.RawMqttClient;
import dev.bulwark.server.testkit.TestServer;
import java.time.Duration;
import java.util.Map;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.function.Function;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.TestInstance;

/**
 * The race of a CONNECT with a revocation: the device's credentials are checked, then (before the session
 * is bound) a quarantine, disable or certificate revocation commits and closes the sessions that exist at
 * that moment. The CONNECT must not bind afterwards. A hook pauses the CONNECT between its authentication
 * and its bind and commits the revocation right there, so the interleaving happens every run.
 */
@TestInstance(TestInstance.Lifecycle.PER_CLASS)
class RevocationDuringConnectTest {
    TestServer server;
    MqttKit kit;
    String token;

    @BeforeAll
    void start() {
        server = TestServer.start(Backend.H2);
        token = server.tenantWithOperator("acme", "ops", "tenant-admin");
        kit = new MqttKit(server, token);
    }

    @AfterEach
    void unhook() {
        server.node().mqtt().afterAuthentication(null);
    }

    @AfterAll
    void stop() {
        server.close();
    }

    /**
     * Connects {@code d} with the raw client while {@code revoke} commits between its authentication and its
     * bind; asserts the CONNECT is refused, no session is live afterwards, and the refusal is recorded.
     */
    private void assertCannotBind(MqttKit.Device d, Function<MqttKit.Device, ApiClient.Result> revoke) throws Exception {
        AtomicBoolean revoked = new AtomicBoolean();
        server.node().mqtt().afterAuthentication(outcome -> {
            if (outcome instanceof AuthOutcome.Authenticated<?> ok && ok.principal().toString().contains(d.id())
                    && revoked.compareAndSet(false, true)) {
                assertThat(revoke.apply(d).status()).isBetween(200, 204); // committed before this CONNECT binds
            }
        });
        int connack;
        try (RawMqttClient c = new RawMqttClient(server.node().mqttPort(), kit.ca(), d.cert(), d.key())) {
            connack = c.connect(d.id());
        }
        assertThat(revoked).isTrue();
        assertThat(connack).as("CONNACK return code (5: not authorized)").isEqualTo(5);
        assertThat(server.node().mqtt().sessions().connected(TenantId.of("acme"), DeviceId.of(d.id()))).isFalse();
        await().atMost(Duration.ofSeconds(10)).until(() -> server.count("SELECT COUNT(*) FROM security_events WHERE type = "
                + "'mqtt-authentication-failed' AND reason LIKE 'revoked while the CONNECT was being authenticated%' AND identity LIKE '%"
                + d.id() + "%' AND source_address = '127.0.0.1' AND source_port > 0") == 1);
    }

    @Test
    void a_connect_authenticated_just_before_a_disable_commits_cannot_bind_after_it() throws Exception {
        MqttKit.Device d = kit.device("race-disable");
        assertCannotBind(d, x -> server.api().post("/api/v1/devices/race-disable/disable", token, null));
    }

    @Test
    void a_connect_authenticated_just_before_a_quarantine_commits_cannot_bind_after_it() throws Exception {
        MqttKit.Device d = kit.device("race-quarantine");
        assertCannotBind(d, x -> server.api().post("/api/v1/devices/race-quarantine/quarantine", token,
                Map.of("reason", "suspected clone")));
    }

    @Test
    void a_connect_authenticated_just_before_its_certificate_is_revoked_cannot_bind_after_it() throws Exception {
        MqttKit.Device d = kit.device("race-revoke");
        assertCannotBind(d, x -> server.api().post("/api/v1/devices/race-revoke/certificates/" + x.serial() + "/revoke", token, null));
    }

    @Test
    void connects_racing_disables_without_any_hook_never_leave_a_live_session_behind() throws Exception {
        MqttKit.Device d = kit.device("race-loop");
        TenantId acme = TenantId.of("acme");
        DeviceId id = DeviceId.of(d.id());
        for (int i = 0; i < 15; i++) {
            assertThat(server.api().post("/api/v1/devices/race-loop/enable", token, null).status()).isEqualTo(200);
            String from = "127.0.1." + (10 + i); // a source of its own each time: refusals of a disabled device feed the tarpit
            java.util.concurrent.CompletableFuture<Integer> connect = java.util.concurrent.CompletableFuture.supplyAsync(() -> {
                try (RawMqttClient c = new RawMqttClient(server.node().mqttPort(), kit.ca(), d.cert(), d.key(), from)) {
                    int code = c.connect(d.id());
                    c.readPacket(); // stays connected until the server closes (or the socket timeout)
                    return code;
                } catch (java.io.IOException e) {
                    return -1;
                }
            });
            assertThat(server.api().post("/api/v1/devices/race-loop/disable", token, null).status()).isEqualTo(200);
            // whatever the interleaving, once the disable has committed the device ends up without a session
            await().atMost(Duration.ofSeconds(2)).until(() -> !server.node().mqtt().sessions().connected(acme, id));
            connect.get(20, java.util.concurrent.TimeUnit.SECONDS);
            assertThat(server.node().mqtt().sessions().connected(acme, id)).isFalse();
        }
    }

    @Test
    void a_revocation_of_another_device_during_a_connect_does_not_refuse_it() throws Exception {
        MqttKit.Device bystander = kit.device("race-bystander");
        kit.device("race-other");
        AtomicBoolean revoked = new AtomicBoolean();
        server.node().mqtt().afterAuthentication(outcome -> {
            if (revoked.compareAndSet(false, true)) {
                server.api().post("/api/v1/devices/race-other/disable", token, null);
            }
        });
        try (RawMqttClient c = new RawMqttClient(server.node().mqttPort(), kit.ca(), bystander.cert(), bystander.key())) {
            assertThat(c.connect(bystander.id())).isZero();
            assertThat(revoked).isTrue();
            assertThat(server.node().mqtt().sessions().connected(TenantId.of("acme"), DeviceId.of(bystander.id()))).isTrue();
        }
    }
}
