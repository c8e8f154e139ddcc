package dev.bulwark.server.monitor;

import static org.assertj.core.api.Assertions.assertThat;
import static org.awaitility.Awaitility.await;

import dev.bulwark.protocol.TenantId;
import dev.bulwark.server.bus.InProcessBus;
import dev.bulwark.server.config.DataDir;
import dev.bulwark.server.core.Clock;
import dev.bulwark.server.crypto.FileKek;
import dev.bulwark.server.identity.TenantStore;
import dev.bulwark.server.store.Database;
import dev.bulwark.server.testkit.Openssl;
import io.vertx.core.Vertx;
import io.vertx.core.http.HttpServer;
import io.vertx.core.http.HttpServerOptions;
import io.vertx.core.net.PemKeyCertOptions;
import java.net.InetAddress;
import java.net.URI;
import java.net.UnknownHostException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.List;
import java.util.Map;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * DNS rebinding between the check and the connection: a webhook's host is resolved once per delivery, and the
 * delivery connects to the address that was checked. Here the name answers once and never again (as a
 * rebinding name would answer with an internal address the second time): the delivery still arrives, over TLS
 * verified against the host name, so nothing resolved the name a second time.
 */
class WebhookPinnedAddressTest {

    @Test
    void a_delivery_connects_to_the_address_it_checked_without_resolving_the_host_again(@TempDir Path dir) throws Exception {
        Openssl pki = Openssl.inTempDir();
        pki.run("req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes", "-keyout", "ca.key",
                "-subj", "/CN=Receiver CA", "-days", "2", "-out", "ca.pem",
                "-addext", "basicConstraints=critical,CA:TRUE", "-addext", "keyUsage=critical,keyCertSign");
        pki.p256Csr("receiver", "/CN=hooks.rebind.test");
        Files.writeString(pki.file("san.ext"), "subjectAltName=DNS:hooks.rebind.test\n");
        pki.run("x509", "-req", "-in", "receiver.csr", "-CA", "ca.pem", "-CAkey", "ca.key", "-days", "2", "-out", "receiver.pem",
                "-extfile", "san.ext");

        Vertx vertx = Vertx.vertx();
        DataDir data = new DataDir(dir);
        Database db = Database.open(null, data);
        InProcessBus bus = new InProcessBus(16);
        List<String> signatures = new CopyOnWriteArrayList<>();
        try {
            HttpServer receiver = vertx.createHttpServer(new HttpServerOptions().setSsl(true).setHost("127.0.0.1")
                            .setKeyCertOptions(new PemKeyCertOptions().setCertPath(pki.file("receiver.pem").toString())
                                    .setKeyPath(pki.file("receiver.key").toString())))
                    .requestHandler(req -> req.body().onSuccess(b -> {
                        signatures.add(req.getHeader("X-Bulwark-Signature") + " host=" + req.authority());
                        req.response().setStatusCode(204).end();
                    }))
                    .listen(0).toCompletionStage().toCompletableFuture().get(10, TimeUnit.SECONDS);
            AtomicInteger lookups = new AtomicInteger();
            Webhooks.Resolver onceThenGone = host -> {
                if (!host.equals("hooks.rebind.test") || lookups.incrementAndGet() > 1) {
                    throw new UnknownHostException(host);
                }
                return new InetAddress[] {InetAddress.getByName("127.0.0.1")};
            };
            Webhooks hooks = new Webhooks(new WebhookStore(db, Clock.SYSTEM, FileKek.loadOrCreate(data)), Clock.SYSTEM, true,
                    pki.file("ca.pem"), vertx, bus, onceThenGone);
            db.tx(h -> {
                new TenantStore().create(h, TenantId.of("acme"), "Acme", 0);
                Map<String, Object> created = hooks.create(h, TenantId.of("acme"),
                        URI.create("https://hooks.rebind.test:" + receiver.actualPort() + "/bulwark"), "test");
                return created;
            });
            hooks.deliver(new Alert("al-1", System.currentTimeMillis(), "acme", "brute-force", "high", "source 203.0.113.9",
                    Map.of(), "ban the source"));
            await().atMost(Duration.ofSeconds(10)).until(() -> hooks.delivered() == 1);
            assertThat(signatures).hasSize(1);
            assertThat(signatures.get(0)).startsWith("t=").contains("host=hooks.rebind.test:" + receiver.actualPort());
            assertThat(lookups.get()).as("name resolutions for one delivery").isEqualTo(1);
            hooks.close();
        } finally {
            bus.close();
            db.close();
            vertx.close().toCompletionStage().toCompletableFuture().get(10, TimeUnit.SECONDS);
        }
    }
}
