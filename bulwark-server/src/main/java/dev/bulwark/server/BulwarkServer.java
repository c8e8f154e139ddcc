package dev.bulwark.server;

import com.fasterxml.jackson.databind.ObjectMapper;
import dev.bulwark.server.config.DataDir;
import dev.bulwark.server.config.ServerConfig;
import dev.bulwark.server.core.Clock;
import dev.bulwark.server.device.LiveSessions;
import dev.bulwark.server.device.TenantQuotas;
import dev.bulwark.server.devicehttp.DeviceHttpsServer;
import dev.bulwark.server.http.ApiRoute;
import dev.bulwark.server.http.ApiServer;
import dev.bulwark.server.monitor.Monitor;
import dev.bulwark.server.monitor.SecurityEvents;
import dev.bulwark.server.mqtt.MqttListener;
import dev.bulwark.server.store.Database;
import dev.bulwark.server.telemetry.GroupCommitWriter;
import dev.bulwark.server.telemetry.TelemetryStore;
import java.nio.file.Path;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.atomic.AtomicBoolean;

/**
 * One Bulwark node: opens the data directory, the database, the PKI and the audit log, creates the
 * bootstrap platform-admin token on first start, and runs the listeners until {@link #close()}. The node is
 * assembled by {@link NodeAssembly}.
 */
public final class BulwarkServer implements AutoCloseable {
    public static final String VERSION = "0.1.0";
    public static final String BOOTSTRAP_OPERATOR = "admin";

    private final Shutdown shutdown;
    private final DataDir dataDir;
    private final Path caPemFile;
    private final Database db;
    private final Monitor monitor;
    private final SecurityEvents securityEvents;
    private final LiveSessions sessions;
    private final TenantQuotas quotas;
    private final ApiServer api;
    private final int httpsPort;
    private final GroupCommitWriter writer;
    private final TelemetryStore telemetry;
    private final MqttListener mqtt;
    private final DeviceHttpsServer deviceHttps;
    private final AtomicBoolean closed = new AtomicBoolean();

    BulwarkServer(Shutdown shutdown, DataDir dataDir, Path caPemFile, Database db, Monitor monitor, SecurityEvents securityEvents, LiveSessions sessions,
                  TenantQuotas quotas, ApiServer api, int httpsPort, GroupCommitWriter writer, TelemetryStore telemetry, MqttListener mqtt,
                  DeviceHttpsServer deviceHttps) {
        this.shutdown = shutdown;
        this.dataDir = dataDir;
        this.caPemFile = caPemFile;
        this.db = db;
        this.monitor = monitor;
        this.securityEvents = securityEvents;
        this.sessions = sessions;
        this.quotas = quotas;
        this.api = api;
        this.httpsPort = httpsPort;
        this.writer = writer;
        this.telemetry = telemetry;
        this.mqtt = mqtt;
        this.deviceHttps = deviceHttps;
    }

    public static BulwarkServer start(ServerConfig config) {
        return start(config, Clock.SYSTEM);
    }

    public static BulwarkServer start(ServerConfig config, Clock clock) {
        return NodeAssembly.assemble(config, clock);
    }

    void writePorts() {
        Map<String, Object> ports = new LinkedHashMap<>();
        ports.put("https", httpsPort);
        ports.put("mqtt", mqtt.port());
        ports.put("deviceHttps", deviceHttps.port());
        if (mqtt.plaintextPort() >= 0) {
            ports.put("mqttPlaintextLoopback", mqtt.plaintextPort());
        }
        ports.put("pid", ProcessHandle.current().pid());
        try {
            DataDir.writePublic(portsFile(),
                    new ObjectMapper().writerWithDefaultPrettyPrinter().writeValueAsString(ports) + "\n");
        } catch (com.fasterxml.jackson.core.JsonProcessingException e) {
            throw new IllegalStateException(e);
        }
    }

    /** The file naming the ports this node is bound to (and its process id). */
    public java.nio.file.Path portsFile() {
        return dataDir.nodeDir("run").resolve("ports.json");
    }

    public int httpsPort() {
        return httpsPort;
    }

    public int mqttPort() {
        return mqtt.port();
    }

    /** The development plaintext MQTT port on loopback, or -1 when it is off (the default). */
    public int mqttPlaintextPort() {
        return mqtt.plaintextPort();
    }

    public int deviceHttpsPort() {
        return deviceHttps.port();
    }

    public MqttListener mqtt() {
        return mqtt;
    }

    public GroupCommitWriter writer() {
        return writer;
    }

    public TelemetryStore telemetry() {
        return telemetry;
    }

    public List<ApiRoute> routes() {
        return api.routes();
    }

    public Path dataDir() {
        return dataDir.root();
    }

    /** The platform CA's certificate (PEM), which devices and clients trust. */
    public Path caPemFile() {
        return caPemFile;
    }

    /** The node's database (for tools and tests that inspect it directly). */
    public Database db() {
        return db;
    }

    public Monitor monitor() {
        return monitor;
    }

    public SecurityEvents securityEvents() {
        return securityEvents;
    }

    public LiveSessions sessions() {
        return sessions;
    }

    public TenantQuotas quotas() {
        return quotas;
    }

    /**
     * Stops the node: listeners drain and close, queued writes are committed, then the stores, the monitor, the
     * event loops and the database close, each after everything built on it. A second call does nothing.
     */
    @Override
    public void close() {
        if (closed.compareAndSet(false, true)) {
            shutdown.close();
        }
    }
}
