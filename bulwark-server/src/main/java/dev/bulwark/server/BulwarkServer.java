package dev.bulwark.server;

import dev.bulwark.server.bus.InProcessBus;
import dev.bulwark.server.crypto.DataKeys;
import dev.bulwark.server.firmware.FirmwareRoutes;
import dev.bulwark.server.lifecycle.Ownership;
import dev.bulwark.server.firmware.FirmwareService;
import dev.bulwark.server.firmware.RolloutService;
import dev.bulwark.server.monitor.AlertStore;
import dev.bulwark.server.monitor.Metrics;
import dev.bulwark.server.monitor.Monitor;
import dev.bulwark.server.monitor.SourceGuard;
import dev.bulwark.server.monitor.Webhooks;
import dev.bulwark.server.device.TenantQuotas;

import com.fasterxml.jackson.databind.ObjectMapper;
import dev.bulwark.server.audit.AuditEntry;
import dev.bulwark.server.audit.AuditLog;
import dev.bulwark.server.audit.AuditRoutes;
import dev.bulwark.server.audit.AuditSigner;
import dev.bulwark.server.config.DataDir;
import dev.bulwark.server.config.ServerConfig;
import dev.bulwark.server.device.CredentialStore;
import dev.bulwark.server.device.DeviceAuthenticator;
import dev.bulwark.server.device.DeviceRateLimits;
import dev.bulwark.server.device.LiveSessions;
import dev.bulwark.server.mqtt.MqttListener;
import dev.bulwark.server.devicehttp.DeviceHttpsServer;
import dev.bulwark.server.telemetry.GroupCommitWriter;
import dev.bulwark.server.telemetry.TelemetryStore;
import dev.bulwark.server.telemetry.TelemetryRoutes;
import dev.bulwark.server.command.CommandRoutes;
import dev.bulwark.server.command.CommandService;
import dev.bulwark.server.shadow.ConfigService;
import dev.bulwark.server.shadow.ModelStore;
import dev.bulwark.server.shadow.ShadowRoutes;
import dev.bulwark.server.device.DeviceCredentialRoutes;
import dev.bulwark.server.device.DeviceRoutes;
import dev.bulwark.server.device.DeviceStore;
import dev.bulwark.server.http.ApiRoute;
import dev.bulwark.server.http.ApiServer;
import dev.bulwark.server.identity.ApiTokenStore;
import dev.bulwark.server.identity.ApiTokens;
import dev.bulwark.server.identity.IdentityRoutes;
import dev.bulwark.server.identity.OperatorPrincipal;
import dev.bulwark.server.identity.OperatorStore;
import dev.bulwark.server.identity.Role;
import dev.bulwark.server.identity.TenantStore;
import dev.bulwark.server.monitor.SecurityEvents;
import dev.bulwark.server.monitor.SecurityRoutes;
import dev.bulwark.server.pki.CaRoutes;
import dev.bulwark.server.pki.PlatformPki;
import dev.bulwark.server.pki.EnrollmentTokenStore;
import dev.bulwark.server.pki.TenantCaStore;
import dev.bulwark.server.store.Database;
import io.vertx.core.Vertx;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.EnumSet;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.TimeUnit;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * One Bulwark node: opens the data directory, the database, the PKI and the audit log, creates the
 * bootstrap platform-admin token on first start, and runs the listeners until {@link #close()}.
 */
public final class BulwarkServer implements AutoCloseable {
    private static final Logger LOG = LoggerFactory.getLogger(BulwarkServer.class);
    public static final String VERSION = "0.1.0";
    public static final String BOOTSTRAP_OPERATOR = "admin";

    private final Services services;
    private final Vertx vertx;
    private final ApiServer api;
    private final int httpsPort;
    private final GroupCommitWriter writer;
    private final TelemetryStore telemetry;
    private final MqttListener mqtt;
    private final DeviceHttpsServer deviceHttps;

    private BulwarkServer(Services services, Vertx vertx, ApiServer api, int httpsPort, GroupCommitWriter writer,
                          TelemetryStore telemetry, MqttListener mqtt, DeviceHttpsServer deviceHttps) {
        this.services = services;
        this.vertx = vertx;
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
        DataDir dataDir = new DataDir(config.dataDir());
        Database db = Database.open(config.databaseUrl(), dataDir);
        Vertx vertx = null;
        SecurityEvents events = null;
        InProcessBus bus = null;
        Monitor monitor = null;
        dev.bulwark.server.lifecycle.DataLifecycle lifecycle = null;
        GroupCommitWriter writer = null;
        TelemetryStore telemetry = null;
        ApiServer api = null;
        try {
            PlatformPki pki = PlatformPki.loadOrCreate(dataDir, config.hostNames(), clock.nowMs());
            AuditLog audit = new AuditLog(AuditSigner.loadOrCreate(dataDir), clock, dataDir);
            dev.bulwark.server.crypto.KeyWrapper kek = dev.bulwark.server.crypto.Keks.open(config.kek(), dataDir);
            vertx = Vertx.vertx();
            vertx.exceptionHandler(t -> {
                if (t instanceof IllegalArgumentException && String.valueOf(t.getMessage()).contains("not connected client")) {
                    // packets a client pipelined after we refused or closed its connection: nothing to do
                    LOG.debug("ignored a packet after the connection ended: {}", t.getMessage());
                } else {
                    LOG.error("unhandled exception on an event loop", t);
                }
            });
            bus = new InProcessBus(100_000);
            Metrics metrics = new Metrics();
            events = new SecurityEvents(db, dataDir, bus, metrics, clock, config.securityEvents());
            monitor = new Monitor(bus, metrics, events, new SourceGuard(clock, config.detection()), new AlertStore(db),
                    new Webhooks(db, clock, config.allowPrivateWebhookTargets(), config.webhookTrust(), kek, vertx), clock, config.detection());
            LiveSessions sessions = new LiveSessions();
            Services s = new Services(config, dataDir, clock, db, pki, audit, events, new ApiTokens(db, new ApiTokenStore(), clock),
                    new TenantStore(), new OperatorStore(), new DeviceStore(), new CredentialStore(), new TenantCaStore(),
                    sessions, new DeviceRateLimits(config.deviceMessagesPerSecond()), monitor,
                    new TenantQuotas(config.tenantMaxConnections(), config.tenantMessagesPerSecond()));
            bootstrap(s);
            dev.bulwark.server.lifecycle.PeriodStore periods = new dev.bulwark.server.lifecycle.PeriodStore();
            Ownership ownership = new Ownership(new DataKeys(dataDir, kek), periods);
            // bound to the MQTT listener once it exists; configuration, commands and rollouts send through it
            dev.bulwark.server.device.ForwardingDeviceLink deviceLink = new dev.bulwark.server.device.ForwardingDeviceLink();
            List<ApiRoute> routes = new ArrayList<>();
            EnrollmentTokenStore enrollmentTokens = new EnrollmentTokenStore();
            routes.addAll(new IdentityRoutes(clock, config.operatorTokenTtl(), s.tenants(), s.operators(), s.apiTokens(), events).routes());
            routes.addAll(new DeviceRoutes(clock, s.devices(), s.credentials(), sessions).routes());
            routes.addAll(new DeviceCredentialRoutes(clock, pki, config.deviceCertificateTtl(), s.devices(), s.credentials(), s.tenantCas(),
                    enrollmentTokens, sessions).routes());
            routes.addAll(new CaRoutes(clock, s.tenantCas(), sessions).routes());
            routes.addAll(new AuditRoutes(audit).routes());
            routes.addAll(new SecurityRoutes(s).routes());
            routes.addAll(new dev.bulwark.server.monitor.MonitorRoutes(s).routes());
            dev.bulwark.server.telemetry.MessageLog messageLog;
            if (config.embeddedDatabase()) {
                // messages an older schema kept one row each were carried into the database log by the migration
                new TelemetryStore(db, ownership.keys(), new dev.bulwark.server.telemetry.DatabaseLog(db), 60_000).close();
                messageLog = new dev.bulwark.server.telemetry.FileLog(dataDir.dir("telemetry-log"), db);
            } else {
                messageLog = new dev.bulwark.server.telemetry.DatabaseLog(db);
            }
            telemetry = new TelemetryStore(db, ownership.keys(), messageLog, 1000);
            routes.addAll(new TelemetryRoutes(s, ownership, telemetry).routes());
            lifecycle = new dev.bulwark.server.lifecycle.DataLifecycle(db, new dev.bulwark.server.lifecycle.LifecycleStore(), s.tenants(), clock,
                    audit, ownership, dataDir, telemetry);
            dev.bulwark.server.lifecycle.OwnerStore owners = new dev.bulwark.server.lifecycle.OwnerStore();
            routes.addAll(new dev.bulwark.server.lifecycle.OwnerRoutes(db, clock, audit, s.apiTokens(), s.operators(), s.devices(),
                    config.operatorTokenTtl(), owners, periods, ownership, lifecycle).routes());
            routes.addAll(new dev.bulwark.server.lifecycle.DataRoutes(db, audit, owners, lifecycle).routes());
            routes.addAll(new dev.bulwark.server.lifecycle.TransferRoutes(db, clock, s.devices(), owners, periods, ownership, lifecycle).routes());
            ModelStore models = new ModelStore();
            ConfigService shadow = new ConfigService(db, clock, new dev.bulwark.server.shadow.ConfigStore(), ownership,
                    new dev.bulwark.server.shadow.LocalConfigDelivery(deviceLink));
            CommandService commands = new CommandService(db, clock, new dev.bulwark.server.command.CommandStore(), s.tenants(), ownership,
                    new dev.bulwark.server.command.LocalCommandDelivery(deviceLink));
            routes.addAll(new ShadowRoutes(s.devices(), clock, models, shadow).routes());
            routes.addAll(new CommandRoutes(s.devices(), clock, models, commands).routes());
            FirmwareService firmware = new FirmwareService(dataDir, kek, new dev.bulwark.server.firmware.FirmwareStore());
            RolloutService rollouts = new RolloutService(db, clock, firmware, new dev.bulwark.server.firmware.RolloutStore(), s.tenants(), deviceLink);
            routes.addAll(new FirmwareRoutes(clock, firmware, rollouts).routes());
            api = new ApiServer(vertx, config, pki, db, audit, s.apiTokens(), events, clock, routes, VERSION);
            int port = api.start();
            if (config.plaintextPayloads()) {
                LOG.warn("**************************************************************************************");
                LOG.warn("* BENCHMARKING ONLY: device payloads are stored UNENCRYPTED (bulwark-bench BenchServer) *");
                LOG.warn("**************************************************************************************");
            }
            writer = new GroupCommitWriter(db, telemetry, 100_000, 4_096, config.plaintextPayloads() ? null : ownership);
            registerMetrics(s, writer, telemetry);
            DeviceAuthenticator deviceAuth = new DeviceAuthenticator(db, pki, clock, s.devices(), s.credentials(), s.tenantCas());
            dev.bulwark.server.ingress.IngressGate gate = new dev.bulwark.server.ingress.IngressGate(vertx, clock, events,
                    config.maxPayloadBytes(), config.deviceMessagesPerSecond(), s.rateLimits(), s.quotas(), writer, shadow, commands, db);
            MqttListener mqtt = new MqttListener(vertx, config, clock, pki, events, monitor, sessions, s.quotas(), deviceAuth, gate,
                    shadow, commands);
            deviceLink.bind(mqtt);
            int mqttPort = mqtt.start();
            Vertx loop = vertx;
            loop.setPeriodic(1000, t -> loop.executeBlocking(commands::expire, false));
            var retention = lifecycle;
            loop.setPeriodic(10_000, t -> loop.executeBlocking(retention::enforceRetention, false));
            loop.setPeriodic(2000, t -> loop.executeBlocking(() -> {
                rollouts.tick();
                return null;
            }, false));
            DeviceHttpsServer deviceHttps = new DeviceHttpsServer(vertx, config, clock, pki, events, monitor, db, s.devices(), deviceAuth, gate,
                    new dev.bulwark.server.pki.EstService(db, clock, pki, config.deviceCertificateTtl(), audit, s.devices(), s.credentials(),
                            s.tenantCas(), enrollmentTokens, deviceAuth),
                    firmware, rollouts);
            deviceHttps.start();
            BulwarkServer server = new BulwarkServer(s, vertx, api, port, writer, telemetry, mqtt, deviceHttps);
            server.writePorts();
            LOG.info("Bulwark {} serving the REST API on https://{}:{}/api/v1 and MQTT over TLS on port {} (data: {}, database: {}, TLS: {})",
                    VERSION, config.bindAddress(), port, mqttPort, dataDir.root(), config.embeddedDatabase() ? "embedded H2" : "external",
                    dev.bulwark.server.pki.TlsPolicy.boringSsl() ? "BoringSSL" : "JDK");
            return server;
        } catch (RuntimeException e) {
            if (api != null) {
                api.close();
            }
            if (writer != null) {
                writer.close();
            }
            if (telemetry != null) {
                telemetry.close();
            }
            if (vertx != null) {
                vertx.close();
            }
            if (events != null) {
                events.close();
            }
            if (monitor != null) {
                monitor.close();
            } else if (bus != null) {
                bus.close();
            }
            db.close();
            throw e;
        }
    }

    private static void registerMetrics(Services s, GroupCommitWriter writer, TelemetryStore telemetry) {
        var m = s.monitor().metrics();
        writer.onBatch(nanos -> m.committed(java.time.Duration.ofNanos(nanos)));
        m.gauge("bulwark_connections", "Device sessions open on this node", () -> s.sessions().size());
        m.counter("bulwark_telemetry_messages_committed", "Device messages committed", writer::committedMessages);
        m.counter("bulwark_telemetry_batches_committed", "Group-commit batches committed", writer::batches);
        m.gauge("bulwark_telemetry_writer_held_bytes", "Bytes of device messages queued or being committed", writer::heldBytes);
        m.counter("bulwark_telemetry_writer_refused_full", "Device messages the writer refused because its queue was full "
                + "(in messages or in bytes): the sender was slowed down or refused, nothing was acknowledged", writer::refusedFull);
        m.counter("bulwark_telemetry_messages_compacted", "Device messages moved from the log into per-device segments",
                telemetry::compactedMessages);
        m.counter("bulwark_telemetry_compactions", "Compaction transactions run", telemetry::compactions);
        m.counter("bulwark_telemetry_messages_dropped_destroyed_key", "Messages the compactor dropped: sealed under a key destroyed "
                + "by an owner's deletion while they waited in the log", telemetry::droppedMessages);
        m.gauge("bulwark_bans_active", "Source addresses banned now", () -> s.monitor().guard().active().size());
        m.counter("bulwark_bans_issued", "Bans issued since start", s.monitor().guard()::bansIssued);
        m.counter("bulwark_refused_while_banned", "Connections and requests refused because their source is banned",
                s.monitor().guard()::refusedWhileBanned);
        m.counter("bulwark_security_events_dropped", "Security events that did not fit the queue", s.securityEvents()::dropped);
        m.counter("bulwark_bus_events_dropped", "Bus events dropped for a subscriber that was behind", s.monitor().bus()::dropped);
        m.counter("bulwark_webhook_deliveries", "Alert deliveries to webhooks that succeeded", s.monitor().webhooks()::delivered);
        m.counter("bulwark_webhook_failures", "Alert deliveries to webhooks given up", s.monitor().webhooks()::failedDeliveries);
    }

    /**
     * Creates the platform's first administrator when the database has none, and writes its token to
     * {@code <data>/bootstrap/admin.token} (owner-only). The token is never logged.
     */
    private static void bootstrap(Services s) {
        Path tokenFile = s.dataDir().dir("bootstrap").resolve("admin.token");
        s.db().tx(h -> {
            if (s.operators().anyInScope(h, OperatorPrincipal.PLATFORM_SCOPE)) {
                return null;
            }
            s.operators().create(h, OperatorPrincipal.PLATFORM_SCOPE, BOOTSTRAP_OPERATOR, EnumSet.of(Role.PLATFORM_ADMIN), s.clock().nowMs());
            ApiTokens.Issued issued = s.apiTokens().issue(h, OperatorPrincipal.PLATFORM_SCOPE, BOOTSTRAP_OPERATOR,
                    s.config().bootstrapTokenTtl().toMillis());
            s.audit().append(h, new AuditEntry(null, "system", "platform.bootstrap",
                    "operator:" + OperatorPrincipal.PLATFORM_SCOPE + "/" + BOOTSTRAP_OPERATOR, "local", AuditEntry.SUCCESS,
                    "bootstrap platform-admin token " + issued.info().id()));
            DataDir.writeSecret(tokenFile, issued.secret().reveal() + "\n");
            LOG.info("created the bootstrap platform-admin token in {} (readable by its owner only)", tokenFile);
            return null;
        });
    }

    private void writePorts() {
        Map<String, Object> ports = new LinkedHashMap<>();
        ports.put("https", httpsPort);
        ports.put("mqtt", mqtt.port());
        ports.put("deviceHttps", deviceHttps.port());
        if (mqtt.plaintextPort() >= 0) {
            ports.put("mqttPlaintextLoopback", mqtt.plaintextPort());
        }
        ports.put("pid", ProcessHandle.current().pid());
        try {
            DataDir.writePublic(services.dataDir().dir("run").resolve("ports.json"),
                    new ObjectMapper().writerWithDefaultPrettyPrinter().writeValueAsString(ports) + "\n");
        } catch (com.fasterxml.jackson.core.JsonProcessingException e) {
            throw new IllegalStateException(e);
        }
    }

    public Services services() {
        return services;
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
        return services.dataDir().root();
    }

    private final java.util.concurrent.atomic.AtomicBoolean closed = new java.util.concurrent.atomic.AtomicBoolean();

    /** Stops the node: listeners drain and close, queued writes are committed. A second call does nothing. */
    @Override
    public void close() {
        if (!closed.compareAndSet(false, true)) {
            return;
        }
        mqtt.close();
        deviceHttps.close();
        api.close();
        writer.close();
        telemetry.close();
        try {
            vertx.close().toCompletionStage().toCompletableFuture().get(10, TimeUnit.SECONDS);
        } catch (Exception e) {
            LOG.warn("event loop did not stop cleanly: {}", e.toString());
        }
        services.securityEvents().close();
        services.monitor().close();
        services.db().close();
    }
}
