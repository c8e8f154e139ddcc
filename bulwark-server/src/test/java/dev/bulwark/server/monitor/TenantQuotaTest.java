package dev.bulwark.server.monitor;

import static org.assertj.core.api.Assertions.assertThat;
import static org.awaitility.Awaitility.await;

import dev.bulwark.server.cli.ApiClient;
import dev.bulwark.server.config.ServerConfig;
import dev.bulwark.server.testkit.Backend;
import dev.bulwark.server.testkit.MqttKit;
import dev.bulwark.server.testkit.NodePerTest;
import dev.bulwark.server.testkit.RawMqttClient;
import java.time.Duration;
import java.util.Map;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedClass;
import org.junit.jupiter.params.provider.EnumSource;

/** Per-tenant limits keep one tenant from starving the others; webhooks cannot point inside the network. */
@ParameterizedClass
@EnumSource(Backend.class)
class TenantQuotaTest extends NodePerTest {

    @Override
    protected void configure(ServerConfig.Builder b) {
        b.tenantMaxConnections(2).tenantMessagesPerSecond(40).deviceMessagesPerSecond(1000);
    }

    @Test
    void a_tenant_at_its_connection_quota_is_refused_more_while_another_tenant_connects() throws Exception {
        MqttKit rogue = new MqttKit(server, server.tenantWithOperator("rogue", "root", "tenant-admin"));
        MqttKit fair = new MqttKit(server, server.tenantWithOperator("fair", "root", "tenant-admin"));
        var r1 = rogue.device("r-1");
        var r2 = rogue.device("r-2");
        var r3 = rogue.device("r-3");
        var f1 = fair.device("f-1");
        int port = server.node().mqttPort();
        try (RawMqttClient a = new RawMqttClient(port, rogue.ca(), r1.cert(), r1.key());
             RawMqttClient b = new RawMqttClient(port, rogue.ca(), r2.cert(), r2.key());
             RawMqttClient c = new RawMqttClient(port, rogue.ca(), r3.cert(), r3.key());
             RawMqttClient d = new RawMqttClient(port, fair.ca(), f1.cert(), f1.key())) {
            assertThat(a.connect("r-1")).isZero();
            assertThat(b.connect("r-2")).isZero();
            assertThat(c.connect("r-3")).isEqualTo(3); // 3.1.1: server unavailable
            assertThat(d.connect("f-1")).isZero();
        }
        await().atMost(Duration.ofSeconds(5)).until(() -> server.count(
                "SELECT COUNT(*) FROM security_events WHERE type = 'tenant-connection-quota-exceeded' AND tenant_id = 'rogue'") == 1);
        // the slots come back when connections end
        await().atMost(Duration.ofSeconds(5)).until(() -> server.node().quotas().connections("rogue") == 0);
        try (RawMqttClient again = new RawMqttClient(port, rogue.ca(), r3.cert(), r3.key())) {
            assertThat(again.connect("r-3")).isZero();
        }
    }

    @Test
    void a_tenant_over_its_message_rate_is_refused_and_recorded() throws Exception {
        MqttKit rogue = new MqttKit(server, server.tenantWithOperator("rogue", "root", "tenant-admin"));
        var r1 = rogue.device("r-1");
        try (RawMqttClient a = new RawMqttClient(server.node().mqttPort(), rogue.ca(), r1.cert(), r1.key())) {
            assertThat(a.connect("r-1")).isZero();
            for (int i = 0; i < 200; i++) {
                a.publishQos1("devices/r-1/telemetry", "{}".getBytes());
            }
            assertThat(a.closedByServer()).isTrue();
        }
        await().atMost(Duration.ofSeconds(5)).until(() -> server.count(
                "SELECT COUNT(*) FROM security_events WHERE type = 'tenant-rate-exceeded' AND tenant_id = 'rogue'") >= 1);
        assertThat(server.stored(m -> m.tenantId().equals("rogue"))).isLessThan(200);
    }

    @Test
    void a_webhook_to_a_loopback_or_private_address_is_refused() {
        String admin = server.tenantWithOperator("acme", "root", "tenant-admin");
        for (String url : new String[] {"https://127.0.0.1/x", "https://localhost:8443/api/v1/tenants", "https://10.0.0.7/x",
                "https://169.254.169.254/latest/meta-data/", "https://[::1]/x"}) {
            ApiClient.Result r = api.post("/api/v1/security/webhooks", admin, Map.of("url", url));
            assertThat(r.status()).as(url).isEqualTo(422);
            assertThat(r.body()).contains("private or loopback");
        }
        assertThat(server.count("SELECT COUNT(*) FROM webhooks")).isZero();
    }
}
