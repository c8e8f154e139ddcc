package dev.bulwark.server.testkit;

import com.fasterxml.jackson.databind.JsonNode;
import dev.bulwark.server.BulwarkServer;
import dev.bulwark.server.cli.ApiClient;
import dev.bulwark.server.config.DataDir;
import dev.bulwark.server.config.ServerConfig;
import dev.bulwark.server.telemetry.StoredMessage;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Comparator;
import java.util.List;
import java.util.Map;
import java.util.function.Consumer;
import java.util.stream.Stream;
import org.jdbi.v3.core.Handle;
import org.jdbi.v3.core.HandleCallback;

/**
 * A real Bulwark node for tests: its own temporary data directory, an ephemeral HTTPS port on loopback,
 * and the chosen database. Talks to it over real TLS, trusting only the node's own CA.
 */
public final class TestServer implements AutoCloseable {
    private final Backend backend;
    private final Path dataDir;
    private final String databaseUrl;
    private final Consumer<ServerConfig.Builder> customizer;
    private final boolean member;
    private final TestClock clock = new TestClock();
    private BulwarkServer server;
    private ApiClient api;

    private TestServer(Backend backend, Path dataDir, String databaseUrl, Consumer<ServerConfig.Builder> customizer) {
        this(backend, dataDir, databaseUrl, customizer, false);
    }

    private TestServer(Backend backend, Path dataDir, String databaseUrl, Consumer<ServerConfig.Builder> customizer, boolean member) {
        this.member = member;
        this.backend = backend;
        this.dataDir = dataDir;
        this.databaseUrl = databaseUrl;
        this.customizer = customizer;
        boot();
    }

    public static TestServer start(Backend backend) {
        return start(backend, b -> { });
    }

    public static TestServer start(Backend backend, Consumer<ServerConfig.Builder> customizer) {
        try {
            Path dir = Files.createTempDirectory("bulwark-test-");
            return new TestServer(backend, dir, backend.freshDatabase(), customizer);
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }

    /**
     * A node of a cluster: it shares {@code dataDir} and {@code databaseUrl} with the other nodes (the cluster
     * owns and removes them, see {@link TestCluster}); closing it stops the node only.
     */
    static TestServer member(Path dataDir, String databaseUrl, Consumer<ServerConfig.Builder> customizer) {
        TestServer s = new TestServer(Backend.POSTGRESQL, dataDir, databaseUrl, customizer, true);
        return s;
    }

    /** A node on an existing data directory (embedded database only), e.g. one prepared at an older schema. */
    public static TestServer startIn(Path dataDir) {
        return new TestServer(Backend.H2, dataDir, null, b -> { });
    }

    private void boot() {
        ServerConfig.Builder b = ServerConfig.builder().dataDir(dataDir).databaseUrl(databaseUrl)
                .httpsPort(0).mqttPort(0).deviceHttpsPort(0).bindAddress("127.0.0.1");
        customizer.accept(b);
        server = BulwarkServer.start(b.build(), clock);
        api = new ApiClient("localhost", server.httpsPort(), dataDir.resolve("pki/ca.pem"));
    }

    /** Stops the node and starts it again on the same data directory and database. */
    public void restart() {
        server.close();
        boot();
    }

    /** Stops the node, leaving data directory and database in place (e.g. to run the CLI against them). */
    public void stop() {
        server.close();
    }

    /** The node's clock; move it forward to expire credentials. */
    public TestClock clock() {
        return clock;
    }

    public Backend backend() {
        return backend;
    }

    public BulwarkServer node() {
        return server;
    }

    public ApiClient api() {
        return api;
    }

    public Path dataDir() {
        return dataDir;
    }

    /** The JDBC URL, or null for the embedded database. */
    public String databaseUrl() {
        return databaseUrl;
    }

    public String adminToken() {
        return DataDir.read(dataDir.resolve("bootstrap/admin.token")).trim();
    }

    /** Direct SQL on the node's database, bypassing the API (to inspect, or to tamper as an attacker would). */
    public <R> R sql(HandleCallback<R, RuntimeException> work) {
        return server.db().read(work);
    }

    /** Runs a {@code SELECT COUNT(*) ...} directly on the node's database. */
    public long count(String sql) {
        return sql(h -> h.createQuery(sql).mapTo(Long.class).one());
    }

    /** Every device message stored so far (what the log holds is compacted first), payloads as stored. */
    public List<StoredMessage> stored() {
        server.telemetry().flush();
        List<StoredMessage> out = new java.util.ArrayList<>();
        sql(h -> {
            server.telemetry().forEach(h, out::add);
            return null;
        });
        return out;
    }

    /** How many stored device messages match {@code filter}. */
    public long stored(java.util.function.Predicate<StoredMessage> filter) {
        return stored().stream().filter(filter).count();
    }

    /** A stored message's payload in clear (empty when its key was destroyed). */
    public java.util.Optional<byte[]> plaintext(StoredMessage m) {
        return server.telemetry().open(m);
    }

    /** Creates a tenant and returns a token of a new operator of that tenant with the given roles. */
    public String tenantWithOperator(String tenant, String operator, String... roles) {
        ApiClient.Result t = api.post("/api/v1/tenants", adminToken(), Map.of("id", tenant, "name", "Tenant " + tenant));
        if (t.status() != 201 && t.status() != 409) {
            throw new IllegalStateException("tenant: " + t.body());
        }
        return operator(tenant, operator, roles);
    }

    /** Name of the tenant-admin the kit provisions first in every tenant it creates operators in. */
    public static final String TENANT_ROOT = "tenant-root";

    private final Map<String, String> tenantRoots = new java.util.concurrent.ConcurrentHashMap<>();

    /**
     * A token of the tenant's first operator, {@value #TENANT_ROOT} (tenant-admin), provisioned by the platform
     * admin on first use: the platform admin creates only a tenant's first operator, the tenant's admin the others.
     */
    public String tenantRoot(String tenant) {
        return tenantRoots.computeIfAbsent(tenant, t -> {
            ApiClient.Result r = api.post("/api/v1/tenants/" + t + "/operators", adminToken(),
                    Map.of("name", TENANT_ROOT, "roles", List.of("tenant-admin")));
            if (r.status() != 201) {
                throw new IllegalStateException("tenant root operator: " + r.body());
            }
            return r.json().get("token").asText();
        });
    }

    /** Makes {@code token} (a tenant-admin's, the tenant's first operator) the one the kit creates the tenant's operators with. */
    public void adoptTenantRoot(String tenant, String token) {
        tenantRoots.put(tenant, token);
    }

    /** Creates an operator in an existing tenant (through the tenant's root admin) and returns their token. */
    public String operator(String tenant, String operator, String... roles) {
        ApiClient.Result r = api.post("/api/v1/tenants/" + tenant + "/operators", tenantRoot(tenant),
                Map.of("name", operator, "roles", List.of(roles)));
        if (r.status() != 201) {
            throw new IllegalStateException("operator: " + r.body());
        }
        return r.json().get("token").asText();
    }

    public JsonNode createDevice(String token, String id, String model) {
        ApiClient.Result r = api.post("/api/v1/devices", token, Map.of("id", id, "model", model));
        if (r.status() != 201) {
            throw new IllegalStateException("device: " + r.body());
        }
        return r.json();
    }

    @Override
    public void close() {
        if (member) {
            server.close();
            return;
        }
        try {
            server.close();
        } finally {
            Backend.drop(databaseUrl);
            deleteTree(dataDir);
        }
    }

    static void deleteTree(Path dir) {
        try (Stream<Path> s = Files.walk(dir)) {
            s.sorted(Comparator.reverseOrder()).forEach(p -> p.toFile().delete());
        } catch (IOException e) {
            // temporary directory: best effort
        }
    }
}
