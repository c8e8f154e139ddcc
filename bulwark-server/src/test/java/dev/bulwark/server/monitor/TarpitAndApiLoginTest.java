package dev.bulwark.server.monitor;

import static org.assertj.core.api.Assertions.assertThat;
import static org.awaitility.Awaitility.await;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import dev.bulwark.server.config.DetectionSettings;
import dev.bulwark.server.config.ServerConfig;
import dev.bulwark.server.crypto.Secrets;
import dev.bulwark.server.testkit.Backend;
import dev.bulwark.server.testkit.MqttKit;
import dev.bulwark.server.testkit.NodePerTest;
import dev.bulwark.server.testkit.RawMqttClient;
import dev.bulwark.server.testkit.Tls;
import java.io.IOException;
import java.net.InetAddress;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.stream.StreamSupport;
import javax.net.ssl.SSLSocket;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedClass;
import org.junit.jupiter.params.provider.EnumSource;

/**
 * The tarpit holds a source's concurrent guesses (they wait one after the other, not each its own delay),
 * and failed operator API logins feed the same detector, tarpit and bans, keyed by source, without locking an
 * operator out of the address they work from. Requests come from different loopback addresses, each standing
 * for another place on the network.
 */
@ParameterizedClass
@EnumSource(value = Backend.class, names = "H2")
class TarpitAndApiLoginTest extends NodePerTest {
    String admin;
    String analyst;
    MqttKit kit;

    @Override
    protected void configure(ServerConfig.Builder b) {
        // delays up to 1 s: a source's queue holds at most 8 s of refusals
        b.detection(DetectionSettings.defaults().withTarpit(3, Duration.ofSeconds(1)));
    }

    @BeforeEach
    void start() {
        admin = server.tenantWithOperator("acme", "root", "tenant-admin");
        analyst = server.operator("acme", "sam", "security-analyst");
        kit = new MqttKit(server, admin);
    }

    record Http(int status, String contentType, String body, long millis) {
        JsonNode json() throws IOException {
            return new ObjectMapper().readTree(body);
        }
    }

    /** GET {@code path} on the operator API from the local address {@code from}, with a bearer token (or none). */
    private Http apiFrom(String from, String path, String token) throws IOException {
        long t0 = System.nanoTime();
        try (SSLSocket s = (SSLSocket) Tls.clientFactory(kit.ca(), null, null).createSocket(InetAddress.getByName("localhost"),
                server.node().httpsPort(), InetAddress.getByName(from), 0)) {
            s.setSoTimeout(30_000);
            s.startHandshake();
            String req = "GET " + path + " HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n"
                    + (token == null ? "" : "Authorization: Bearer " + token + "\r\n") + "\r\n";
            s.getOutputStream().write(req.getBytes(StandardCharsets.US_ASCII));
            s.getOutputStream().flush();
            String resp = new String(s.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
            long ms = (System.nanoTime() - t0) / 1_000_000;
            String head = resp.substring(0, resp.indexOf("\r\n\r\n")).toLowerCase(java.util.Locale.ROOT);
            int ct = head.indexOf("content-type: ");
            String type = ct < 0 ? "" : head.substring(ct + 14, head.indexOf("\r\n", ct) < 0 ? head.length() : head.indexOf("\r\n", ct));
            String body = resp.substring(resp.indexOf("\r\n\r\n") + 4);
            if (head.contains("transfer-encoding: chunked")) {
                StringBuilder b = new StringBuilder();
                int i = 0;
                while (true) {
                    int eol = body.indexOf("\r\n", i);
                    int n = Integer.parseInt(body.substring(i, eol).trim(), 16);
                    if (n == 0) {
                        break;
                    }
                    b.append(body, eol + 2, eol + 2 + n);
                    i = eol + 2 + n + 2;
                }
                body = b.toString();
            }
            return new Http(Integer.parseInt(resp.substring(9, 12)), type, body, ms);
        }
    }

    private static String randomOperatorToken() {
        return "bwk." + Secrets.randomHex(8) + "." + Secrets.randomBase64Url(32);
    }

    private List<JsonNode> items(String path, String token) {
        return StreamSupport.stream(api.get(path, token).json().get("items").spliterator(), false).toList();
    }

    @Test
    void forty_five_parallel_guesses_from_one_source_wait_one_after_the_other_in_the_tarpit() throws Exception {
        server.createDevice(admin, "thermo-1", "thermo");
        MqttKit.Device bystander = kit.device("thermo-2");
        ExecutorService pool = Executors.newFixedThreadPool(45);
        try {
            List<Future<long[]>> guesses = new ArrayList<>();
            for (int i = 0; i < 45; i++) {
                guesses.add(pool.submit(() -> {
                    long t0 = System.nanoTime();
                    int code;
                    try (RawMqttClient c = new RawMqttClient(server.node().mqttPort(), kit.ca(), null, null, "127.0.0.41")) {
                        code = c.connect("thermo-1", "thermo-1@acme", "bwd." + Secrets.randomHex(8) + "." + Secrets.randomBase64Url(32));
                    } catch (IOException closed) {
                        code = -1;
                    }
                    return new long[] {code, (System.nanoTime() - t0) / 1_000_000};
                }));
            }
            List<Long> waits = new ArrayList<>();
            for (Future<long[]> f : guesses) {
                long[] r = f.get();
                assertThat(r[0]).as("no guess is accepted").isNotZero();
                waits.add(r[1]);
            }
            waits.sort(null);
            // Each refusal delayed on its own would answer all of them within about a second (the longest delay is 1 s).
            // Queued, those that reach authentication come back one after the other, a second apart; the others are
            // refused before authentication once the source is banned or its queue is full. How many get in first
            // depends on timing, so the check is the chain: several refusals two seconds or more after the start.
            assertThat(waits.get(44)).as("slowest refusal, ms (all: %s)", waits).isGreaterThanOrEqualTo(3_000);
            assertThat(waits.stream().filter(w -> w >= 2_000).count()).as("refusals that waited 2 s or more (all: %s)", waits)
                    .isGreaterThanOrEqualTo(2);
        } finally {
            pool.shutdownNow();
        }
        await().atMost(Duration.ofSeconds(10)).until(() -> server.count("SELECT COUNT(*) FROM security_events WHERE "
                + "source_address = '127.0.0.41' AND tenant_id = 'acme' AND type = 'mqtt-authentication-failed'") > 0);
        assertThat(kit.pub(bystander, "-i", "thermo-2", "-q", "1", "-t", "devices/thermo-2/telemetry", "-m", "{}").output())
                .contains("PUBACK");
    }

    @Test
    void failed_api_logins_are_tarpitted_and_banned_by_source_and_the_operator_keeps_working_from_their_usual_address() throws Exception {
        // the operator works from 127.0.0.50; someone at the same address (a shared NAT) guesses tokens
        assertThat(apiFrom("127.0.0.50", "/api/v1/devices", admin).status()).isEqualTo(200);
        List<Long> times = new ArrayList<>();
        for (int i = 0; i < 12; i++) {
            Http r = apiFrom("127.0.0.50", "/api/v1/devices", randomOperatorToken());
            assertThat(r.status()).isIn(401, 403);
            times.add(r.millis());
        }
        // the first failures are answered at once, then the source waits longer and longer (up to 1 s here)
        assertThat(times.subList(6, 9)).as("delays, ms: %s", times).allMatch(t -> t >= 900);

        String platform = server.adminToken();
        await().atMost(Duration.ofSeconds(15)).until(() -> items("/api/v1/security/bans", platform).stream()
                .anyMatch(b -> b.get("sourceAddress").asText().equals("127.0.0.50")));
        assertThat(items("/api/v1/security/alerts?label=enumeration", platform).toString()).contains("127.0.0.50");

        // banned: a guess is refused at once with the reason, as problem+json
        Http guess = apiFrom("127.0.0.50", "/api/v1/devices", randomOperatorToken());
        assertThat(guess.status()).isEqualTo(403);
        assertThat(guess.contentType()).startsWith("application/problem+json");
        assertThat(guess.json().get("detail").asText()).contains("banned");
        assertThat(guess.millis()).isLessThan(900);
        // the operator who logged in from there before keeps working there; an operator new to that address is
        // refused there (with the same answer as a guess: the ban tells nothing about a token), and works elsewhere
        assertThat(apiFrom("127.0.0.50", "/api/v1/devices", admin).status()).isEqualTo(200);
        Http newcomer = apiFrom("127.0.0.50", "/api/v1/security/events", analyst);
        assertThat(newcomer.status()).isEqualTo(403);
        assertThat(newcomer.json().get("detail").asText()).isEqualTo(guess.json().get("detail").asText());
        assertThat(apiFrom("127.0.0.51", "/api/v1/security/events", analyst).status()).isEqualTo(200);

        await().atMost(Duration.ofSeconds(10)).until(() -> server.count("SELECT COUNT(*) FROM security_events WHERE type = "
                + "'api-authentication-failed' AND reason = 'unknown-token' AND source_address = '127.0.0.50' AND source_port > 0") >= 12
                && server.count("SELECT COUNT(*) FROM security_events WHERE type = 'source-banned' AND channel = 'api' "
                + "AND source_address = '127.0.0.50'") >= 1);
    }

    @Test
    void guessing_the_secret_of_a_tenants_operator_token_is_that_tenants_brute_force_alert_and_ban() throws Exception {
        String[] parts = analyst.split("\\.");
        for (int i = 0; i < 5; i++) {
            Http r = apiFrom("127.0.0.53", "/api/v1/devices", parts[0] + "." + parts[1] + "." + Secrets.randomBase64Url(32));
            assertThat(r.status()).isIn(401, 403);
        }
        await().atMost(Duration.ofSeconds(15)).until(() -> items("/api/v1/security/alerts?label=brute-force", analyst).stream()
                .anyMatch(a -> a.get("subject").asText().contains("operator:acme/sam")));
        await().atMost(Duration.ofSeconds(10)).until(() -> items("/api/v1/security/bans", analyst).stream()
                .anyMatch(b -> b.get("sourceAddress").asText().equals("127.0.0.53") && b.get("scope").asText().equals("tenant")));
        assertThat(items("/api/v1/security/alerts?label=brute-force", server.adminToken())).isEmpty();
        // the operator works on from elsewhere
        assertThat(apiFrom("127.0.0.54", "/api/v1/security/events", analyst).status()).isEqualTo(200);
    }

    @Test
    void requests_without_any_token_are_recorded_but_never_tarpitted_or_banned() throws Exception {
        for (int i = 0; i < 15; i++) {
            Http r = apiFrom("127.0.0.52", "/api/v1/devices", null);
            assertThat(r.status()).isEqualTo(401);
            assertThat(r.millis()).isLessThan(900);
        }
        assertThat(server.node().monitor().guard().active()).isEmpty();
        await().atMost(Duration.ofSeconds(10)).until(() -> server.count("SELECT COUNT(*) FROM security_events WHERE type = "
                + "'api-authentication-failed' AND reason = 'missing' AND source_address = '127.0.0.52'") == 15);
    }
}
