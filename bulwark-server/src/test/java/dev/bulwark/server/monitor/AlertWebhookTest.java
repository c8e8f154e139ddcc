package dev.bulwark.server.monitor;

import static org.assertj.core.api.Assertions.assertThat;
import static org.awaitility.Awaitility.await;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import dev.bulwark.server.cli.ApiClient;
import dev.bulwark.server.config.ServerConfig;
import dev.bulwark.server.testkit.Backend;
import dev.bulwark.server.testkit.MqttKit;
import dev.bulwark.server.testkit.NodePerTest;
import dev.bulwark.server.testkit.Openssl;
import dev.bulwark.server.testkit.RawMqttClient;
import io.vertx.core.Vertx;
import io.vertx.core.http.HttpServer;
import io.vertx.core.http.HttpServerOptions;
import io.vertx.core.net.PemKeyCertOptions;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.HexFormat;
import java.util.List;
import java.util.Map;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;
import javax.crypto.Mac;
import javax.crypto.spec.SecretKeySpec;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedClass;
import org.junit.jupiter.params.provider.EnumSource;

/** Alerts delivered to a real HTTPS receiver, signed, and retried when the receiver fails. */
@ParameterizedClass
@EnumSource(value = Backend.class, names = "H2")
class AlertWebhookTest extends NodePerTest {
    static final Openssl RECEIVER_PKI = Openssl.inTempDir();

    static {
        RECEIVER_PKI.run("req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes", "-keyout", "ca.key",
                "-subj", "/CN=Receiver CA", "-days", "2", "-out", "ca.pem",
                "-addext", "basicConstraints=critical,CA:TRUE", "-addext", "keyUsage=critical,keyCertSign");
        RECEIVER_PKI.p256Csr("receiver", "/CN=localhost");
        try {
            java.nio.file.Files.writeString(RECEIVER_PKI.file("san.ext"), "subjectAltName=DNS:localhost\n");
        } catch (java.io.IOException e) {
            throw new java.io.UncheckedIOException(e);
        }
        RECEIVER_PKI.run("x509", "-req", "-in", "receiver.csr", "-CA", "ca.pem", "-CAkey", "ca.key", "-days", "2", "-out", "receiver.pem",
                "-extfile", "san.ext");
    }

    record Delivery(String signature, String delivery, byte[] body) {
    }

    Vertx vertx;
    HttpServer receiver;
    final List<Delivery> deliveries = new CopyOnWriteArrayList<>();
    final AtomicInteger calls = new AtomicInteger();

    @Override
    protected void configure(ServerConfig.Builder b) {
        b.allowPrivateWebhookTargets(true).webhookTrust(RECEIVER_PKI.file("ca.pem"));
    }

    @BeforeEach
    void receiver() throws Exception {
        vertx = Vertx.vertx();
        receiver = vertx.createHttpServer(new HttpServerOptions().setSsl(true).setKeyCertOptions(new PemKeyCertOptions()
                        .setCertPath(RECEIVER_PKI.file("receiver.pem").toString()).setKeyPath(RECEIVER_PKI.file("receiver.key").toString())))
                .requestHandler(req -> req.body().onSuccess(body -> {
                    if (calls.incrementAndGet() == 1) {
                        req.response().setStatusCode(503).end(); // the first delivery fails: it must be retried
                        return;
                    }
                    deliveries.add(new Delivery(req.getHeader("X-Bulwark-Signature"), req.getHeader("X-Bulwark-Delivery"), body.getBytes()));
                    req.response().setStatusCode(204).end();
                }))
                .listen(0, "127.0.0.1").toCompletionStage().toCompletableFuture().get(10, TimeUnit.SECONDS);
    }

    @AfterEach
    void stopReceiver() {
        vertx.close();
    }

    private static String hmac(String secret, String message) throws Exception {
        Mac mac = Mac.getInstance("HmacSHA256");
        mac.init(new SecretKeySpec(secret.getBytes(StandardCharsets.UTF_8), "HmacSHA256"));
        return HexFormat.of().formatHex(mac.doFinal(message.getBytes(StandardCharsets.UTF_8)));
    }

    @Test
    void an_alert_reaches_the_webhook_signed_and_after_a_retry() throws Exception {
        String admin = server.tenantWithOperator("acme", "root", "tenant-admin");
        ApiClient.Result created = api.post("/api/v1/security/webhooks", admin,
                Map.of("url", "https://localhost:" + receiver.actualPort() + "/bulwark"));
        assertThat(created.status()).as(created.body()).isEqualTo(201);
        String secret = created.json().get("secret").asText();
        assertThat(api.get("/api/v1/security/webhooks", admin).body()).doesNotContain(secret);
        String stored = server.sql(h -> h.createQuery("SELECT secret FROM webhooks").mapTo(String.class).one());
        assertThat(stored).doesNotContain(secret).doesNotContain(secret.substring(4)); // wrapped by the key-encryption key

        MqttKit kit = new MqttKit(server, admin);
        kit.device("thermo-1");
        for (int i = 0; i < 5; i++) {
            try (RawMqttClient c = new RawMqttClient(server.node().mqttPort(), kit.ca(), null, null, "127.0.0.2")) {
                c.connect("thermo-1", "thermo-1@acme", "bwd.0123456789abcdef." + "A".repeat(42) + (char) ('A' + i));
            }
        }
        await().atMost(Duration.ofSeconds(20)).until(() -> !deliveries.isEmpty());
        assertThat(calls.get()).isGreaterThanOrEqualTo(2);
        Delivery d = deliveries.get(0);
        JsonNode alert = new ObjectMapper().readTree(d.body());
        assertThat(alert.get("label").asText()).isEqualTo("brute-force");
        assertThat(alert.get("tenant").asText()).isEqualTo("acme");
        assertThat(d.delivery()).isEqualTo(alert.get("id").asText());
        // the receiver checks the signature with the secret it was shown once
        String t = d.signature().replaceAll("^t=(\\d+),v1=.*$", "$1");
        String v1 = d.signature().replaceAll("^t=\\d+,v1=([0-9a-f]{64})$", "$1");
        assertThat(v1).isEqualTo(hmac(secret, t + "." + new String(d.body(), StandardCharsets.UTF_8)));
        assertThat(v1).isNotEqualTo(hmac("bwh.wrong", t + "." + new String(d.body(), StandardCharsets.UTF_8)));
    }

    @Test
    void a_webhook_must_be_https_without_user_info_and_is_the_tenant_s_own() {
        String admin = server.tenantWithOperator("acme", "root", "tenant-admin");
        String other = server.tenantWithOperator("globex", "root", "tenant-admin");
        assertThat(api.post("/api/v1/security/webhooks", admin, Map.of("url", "http://localhost:9/x")).status()).isEqualTo(422);
        ApiClient.Result userinfo = api.post("/api/v1/security/webhooks", admin, Map.of("url", "https://user:pw@localhost:9/x"));
        assertThat(userinfo.status()).isEqualTo(422);
        assertThat(userinfo.body()).doesNotContain("pw");
        String id = api.post("/api/v1/security/webhooks", admin, Map.of("url", "https://localhost:9/x")).json().get("id").asText();
        assertThat(api.delete("/api/v1/security/webhooks/" + id, other).status()).isEqualTo(404);
        assertThat(api.delete("/api/v1/security/webhooks/" + id, admin).status()).isEqualTo(204);
        assertThat(server.count("SELECT COUNT(*) FROM audit_log WHERE action IN ('security.webhook.create', 'security.webhook.delete') "
                + "AND outcome = 'success'")).isEqualTo(2);
    }
}
