package dev.bulwark.server;

import dev.bulwark.server.api.AuditRoutes;
import dev.bulwark.server.api.CaRoutes;
import dev.bulwark.server.api.CommandRoutes;
import dev.bulwark.server.api.DataRoutes;
import dev.bulwark.server.api.DeviceCredentialRoutes;
import dev.bulwark.server.api.DeviceRoutes;
import dev.bulwark.server.api.FirmwareRoutes;
import dev.bulwark.server.api.IdentityRoutes;
import dev.bulwark.server.api.MonitorRoutes;
import dev.bulwark.server.api.OwnerRoutes;
import dev.bulwark.server.api.SecurityRoutes;
import dev.bulwark.server.api.ShadowRoutes;
import dev.bulwark.server.api.TelemetryRoutes;
import dev.bulwark.server.api.TransferRoutes;
import dev.bulwark.server.audit.AuditEntry;
import dev.bulwark.server.audit.AuditLog;
import dev.bulwark.server.audit.AuditSigner;
import dev.bulwark.server.bus.EventBus;
import dev.bulwark.server.cluster.ClusterBans;
import dev.bulwark.server.cluster.ClusterCommandDelivery;
import dev.bulwark.server.cluster.ClusterConfigDelivery;
import dev.bulwark.server.cluster.ClusterDetectorState;
import dev.bulwark.server.cluster.ClusterKeys;
import dev.bulwark.server.cluster.ClusterNode;
import dev.bulwark.server.cluster.ClusterQuotas;
import dev.bulwark.server.cluster.ClusterSessions;
import dev.bulwark.server.cluster.Northbound;
import dev.bulwark.server.cluster.SessionSweep;
import dev.bulwark.server.bus.InProcessBus;
import dev.bulwark.server.command.CommandDelivery;
import dev.bulwark.server.command.CommandService;
import dev.bulwark.server.command.CommandStore;
import dev.bulwark.server.command.LocalCommandDelivery;
import dev.bulwark.server.config.DataDir;
import dev.bulwark.server.config.ServerConfig;
import dev.bulwark.server.core.Clock;
import dev.bulwark.server.crypto.DataKeys;
import dev.bulwark.server.crypto.Keks;
import dev.bulwark.server.crypto.KeyWrapper;
import dev.bulwark.server.device.CredentialStore;
import dev.bulwark.server.device.DeviceAuthenticator;
import dev.bulwark.server.device.DeviceRateLimits;
import dev.bulwark.server.device.DeviceStore;
import dev.bulwark.server.device.EstService;
import dev.bulwark.server.device.ForwardingDeviceLink;
import dev.bulwark.server.device.InProcessQuotas;
import dev.bulwark.server.device.InProcessRateLimits;
import dev.bulwark.server.device.InProcessSessions;
import dev.bulwark.server.device.LiveSessions;
import dev.bulwark.server.device.TenantQuotas;
import dev.bulwark.server.devicehttp.DeviceHttpsServer;
import dev.bulwark.server.firmware.FirmwareService;
import dev.bulwark.server.firmware.FirmwareStore;
import dev.bulwark.server.firmware.RolloutService;
import dev.bulwark.server.firmware.RolloutStore;
import dev.bulwark.server.http.ApiRoute;
import dev.bulwark.server.http.ApiServer;
import dev.bulwark.server.identity.ApiTokenStore;
import dev.bulwark.server.identity.ApiTokens;
import dev.bulwark.server.identity.OperatorPrincipal;
import dev.bulwark.server.identity.OperatorStore;
import dev.bulwark.server.identity.Role;
import dev.bulwark.server.identity.TenantStore;
import dev.bulwark.server.ingress.IngressGate;
import dev.bulwark.server.lifecycle.DataLifecycle;
import dev.bulwark.server.lifecycle.LifecycleStore;
import dev.bulwark.server.lifecycle.OwnerStore;
import dev.bulwark.server.ownership.PeriodStore;
import dev.bulwark.server.monitor.AlertStore;
import dev.bulwark.server.monitor.DetectorState;
import dev.bulwark.server.monitor.InProcessBans;
import dev.bulwark.server.monitor.InProcessDetectorState;
import dev.bulwark.server.monitor.Metrics;
import dev.bulwark.server.monitor.Monitor;
import dev.bulwark.server.monitor.SecurityEventStore;
import dev.bulwark.server.monitor.SecurityEvents;
import dev.bulwark.server.monitor.SourceGuard;
import dev.bulwark.server.monitor.WebhookStore;
import dev.bulwark.server.monitor.Webhooks;
import dev.bulwark.server.mqtt.MqttListener;
import dev.bulwark.server.ownership.Ownership;
import dev.bulwark.server.pki.EnrollmentTokenStore;
import dev.bulwark.server.pki.PlatformPki;
import dev.bulwark.server.pki.TenantCaStore;
import dev.bulwark.server.shadow.ConfigDelivery;
import dev.bulwark.server.shadow.ConfigService;
import dev.bulwark.server.shadow.ConfigStore;
import dev.bulwark.server.shadow.LocalConfigDelivery;
import dev.bulwark.server.shadow.ModelStore;
import dev.bulwark.server.store.Database;
import dev.bulwark.server.telemetry.DatabaseLog;
import dev.bulwark.server.telemetry.FileLog;
import dev.bulwark.server.telemetry.GroupCommitWriter;
import dev.bulwark.server.telemetry.MessageLog;
import dev.bulwark.server.telemetry.TelemetryStore;
import io.vertx.core.Vertx;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.EnumSet;
import java.util.List;
import java.util.concurrent.TimeUnit;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * The composition root: one node built from its parts, top to bottom, each part receiving what it needs
 * through its constructor. Every part that has to be closed is registered with the {@link Shutdown} as soon as
 * it exists, so a start that fails closes what it opened, in the reverse order, and the running node closes
 * the same way.
 *
 * <p>The parts a cluster replaces (issue 13) are built in one section, each behind its interface with the
 * in-process implementation: the event bus, the live-session registry, the device rate limits, the tenant
 * quotas, the source bans and the detector's state.
 */
final class NodeAssembly {
    private static final Logger LOG = LoggerFactory.getLogger(NodeAssembly.class);

    private NodeAssembly() {
    }

    static BulwarkServer assemble(ServerConfig config, Clock clock) {
        Shutdown opened = new Shutdown();
        try {
            // ---- storage, keys, audit ----
            DataDir dataDir = new DataDir(config.dataDir(), config.clustered() ? config.cluster().nodeId() : null);
            // the nodes of a cluster share the data directory's key material: one of them at a time creates or loads it
            AutoCloseable initLock = opened.add("data directory lock", dataDir.initLock(), NodeAssembly::release);
            Database db = opened.add("database", Database.open(config.databaseUrl(), dataDir));
            PlatformPki pki = PlatformPki.loadOrCreate(dataDir, config.hostNames(), clock.nowMs());
            AuditLog audit = new AuditLog(AuditSigner.loadOrCreate(dataDir), clock, dataDir);
            KeyWrapper kek = Keks.open(config.kek(), dataDir);
            PeriodStore periods = new PeriodStore();
            Ownership ownership = new Ownership(new DataKeys(dataDir, kek), periods);

            // ---- stores ----
            TenantStore tenants = new TenantStore();
            OperatorStore operators = new OperatorStore();
            DeviceStore devices = new DeviceStore();
            CredentialStore credentials = new CredentialStore();
            TenantCaStore tenantCas = new TenantCaStore();
            ApiTokens apiTokens = new ApiTokens(db, new ApiTokenStore(), clock);
            EnrollmentTokenStore enrollmentTokens = new EnrollmentTokenStore();
            OwnerStore owners = new OwnerStore();
            AlertStore alerts = new AlertStore(db);
            ModelStore models = new ModelStore();

            // ---- the parts a cluster replaces: in-process for a standalone node ----
            ClusterNode cluster = config.clustered() ? opened.add("cluster", new ClusterNode(config.cluster(), clock, db)) : null;
            if (cluster != null) {
                ClusterKeys.join(cluster, ownership.keys());
            }
            EventBus bus = opened.add("event bus", new InProcessBus(100_000));
            ClusterSessions clusterSessions = cluster == null ? null : opened.add("cluster sessions", new ClusterSessions(cluster));
            LiveSessions sessions = cluster == null ? new InProcessSessions() : clusterSessions;
            // the backstop of containment while Kafka is away: each node checks its sessions against the database
            SessionSweep sweep = cluster == null ? null
                    : opened.add("session sweep", SessionSweep.start(clusterSessions, credentials, SessionSweep.INTERVAL));
            DeviceRateLimits rateLimits = new InProcessRateLimits(config.deviceMessagesPerSecond());
            TenantQuotas quotas = cluster != null
                    ? opened.add("cluster quotas", new ClusterQuotas(cluster, config.tenantMaxConnections(), config.tenantMessagesPerSecond()))
                    : new InProcessQuotas(config.tenantMaxConnections(), config.tenantMessagesPerSecond());
            SourceGuard guard = cluster != null ? opened.add("cluster bans", new ClusterBans(cluster, config.detection()))
                    : new InProcessBans(clock, config.detection());
            long detectionWindow = config.detection().window().toMillis();
            DetectorState detectorState = cluster != null ? opened.add("cluster detector", new ClusterDetectorState(cluster, detectionWindow))
                    : new InProcessDetectorState(detectionWindow);
            byte[] fingerprintKey = cluster != null ? ClusterDetectorState.fingerprintKey(dataDir) : null; // one secret, one fingerprint

            // ---- monitoring: security events, the event loops, webhooks, the detector ----
            Metrics metrics = new Metrics();
            SecurityEventStore eventStore = new SecurityEventStore(db);
            SecurityEvents events = opened.add("security event writer",
                    new SecurityEvents(eventStore, alerts, dataDir, bus, metrics, clock, config.securityEvents()));
            if (clusterSessions != null) {
                clusterSessions.recordTo(events); // takeovers of this node's sessions by another node's
            }
            Vertx vertx = opened.add("event loops", eventLoops(), NodeAssembly::stop);
            Webhooks webhooks = opened.add("webhooks", new Webhooks(new WebhookStore(db, clock, kek), clock,
                    config.allowPrivateWebhookTargets(), config.webhookTrust(), vertx, bus));
            Monitor monitor = opened.add("monitor", new Monitor(bus, metrics, events, guard, detectorState, alerts, clock,
                    config.detection(), fingerprintKey));

            bootstrap(db, dataDir, operators, apiTokens, audit, clock, config);

            // ---- telemetry storage ----
            if (config.embeddedDatabase()) {
                // messages an older schema kept one row each were carried into the database log by the migration
                new TelemetryStore(db, ownership.keys(), new DatabaseLog(db), 60_000).close();
            }
            MessageLog messageLog = config.embeddedDatabase() ? new FileLog(dataDir.dir("telemetry-log"), db)
                    : new DatabaseLog(db, cluster == null ? DatabaseLog.Outbox.NONE : Northbound.outbox(cluster));
            TelemetryStore telemetry = opened.add("telemetry store", new TelemetryStore(db, ownership.keys(), messageLog, 1000));
            DataLifecycle lifecycle = new DataLifecycle(db, new LifecycleStore(), tenants, clock, audit, ownership, dataDir, telemetry);

            // ---- device-facing services; they reach devices through the link the MQTT listener is bound to below ----
            ForwardingDeviceLink deviceLink = new ForwardingDeviceLink();
            // in a cluster, commands and desired configuration go to the node holding the device's session, by its lease
            ConfigStore configStore = new ConfigStore();
            CommandStore commandStore = new CommandStore();
            ConfigDelivery configDelivery = cluster == null ? new LocalConfigDelivery(deviceLink) : opened.add("config routes",
                    new ClusterConfigDelivery(cluster, clusterSessions::leaseEpoch, new LocalConfigDelivery(deviceLink), configStore));
            CommandDelivery commandDelivery = cluster == null ? new LocalCommandDelivery(deviceLink) : opened.add("command routes",
                    new ClusterCommandDelivery(cluster, clusterSessions::leaseEpoch, new LocalCommandDelivery(deviceLink), commandStore));
            ConfigService shadow = new ConfigService(db, clock, configStore, ownership, configDelivery);
            CommandService commands = new CommandService(db, clock, commandStore, tenants, ownership, commandDelivery);
            FirmwareService firmware = new FirmwareService(dataDir, kek, new FirmwareStore());
            RolloutService rollouts = new RolloutService(db, clock, firmware, new RolloutStore(), tenants, deviceLink);

            // ---- the REST API ----
            List<ApiRoute> routes = new ArrayList<>();
            routes.addAll(new IdentityRoutes(clock, config.operatorTokenTtl(), tenants, operators, apiTokens, events).routes());
            routes.addAll(new DeviceRoutes(clock, devices, credentials, sessions).routes());
            routes.addAll(new DeviceCredentialRoutes(clock, pki, config.deviceCertificateTtl(), devices, credentials, tenantCas,
                    enrollmentTokens, sessions).routes());
            routes.addAll(new CaRoutes(clock, tenantCas, sessions).routes());
            routes.addAll(new AuditRoutes(audit).routes());
            routes.addAll(new SecurityRoutes(eventStore).routes());
            routes.addAll(new MonitorRoutes(metrics, alerts, guard, webhooks).routes());
            routes.addAll(new TelemetryRoutes(devices, ownership, telemetry).routes());
            routes.addAll(new OwnerRoutes(db, clock, audit, apiTokens, operators, devices, config.operatorTokenTtl(), owners, periods,
                    ownership, lifecycle).routes());
            routes.addAll(new DataRoutes(db, audit, owners, lifecycle).routes());
            routes.addAll(new TransferRoutes(db, clock, devices, owners, periods, ownership, lifecycle).routes());
            routes.addAll(new ShadowRoutes(devices, clock, models, shadow).routes());
            routes.addAll(new CommandRoutes(devices, clock, models, commands).routes());
            routes.addAll(new FirmwareRoutes(clock, firmware, rollouts).routes());
            ApiServer api = opened.add("REST API listener", new ApiServer(vertx, config, pki, db, audit, apiTokens, events,
                    monitor.logins(), clock, routes, BulwarkServer.VERSION), ApiServer::close);
            int httpsPort = api.start();

            // ---- device ingress: the writer, MQTT, device HTTPS ----
            if (config.plaintextPayloads()) {
                LOG.warn("**************************************************************************************");
                LOG.warn("* BENCHMARKING ONLY: device payloads are stored UNENCRYPTED (bulwark-bench BenchServer) *");
                LOG.warn("**************************************************************************************");
            }
            Northbound northbound = cluster == null ? null : opened.add("northbound", new Northbound(cluster, telemetry, ownership, metrics));
            GroupCommitWriter writer = opened.add("telemetry writer", new GroupCommitWriter(db, telemetry, 100_000, GroupCommitWriter.DEFAULT_MAX_BYTES,
                    4_096, config.plaintextPayloads() ? null : ownership, northbound == null ? GroupCommitWriter.AfterCommit.NONE : northbound));
            NodeMetrics.register(metrics, writer, telemetry, sessions, guard, events, bus, webhooks);
            if (cluster != null) {
                NodeMetrics.registerCluster(metrics, cluster);
                NodeMetrics.registerSessionSweep(metrics, sweep);
            }
            DeviceAuthenticator deviceAuth = new DeviceAuthenticator(db, pki, clock, devices, credentials, tenantCas);
            IngressGate gate = new IngressGate(vertx, clock, events, config.maxPayloadBytes(), config.deviceMessagesPerSecond(), rateLimits,
                    quotas, writer, shadow, commands, db);
            MqttListener mqtt = opened.add("MQTT listener", new MqttListener(vertx, config, clock, pki, events, monitor, sessions, quotas,
                    deviceAuth, gate, shadow, commands), MqttListener::close);
            deviceLink.bind(mqtt);
            if (cluster != null) {
                cluster.start(); // before devices connect: what the other nodes say from now on is heard
            }
            int mqttPort = mqtt.start();
            EstService est = new EstService(db, clock, pki, config.deviceCertificateTtl(), audit, devices, credentials, tenantCas,
                    enrollmentTokens, deviceAuth);
            DeviceHttpsServer deviceHttps = opened.add("device HTTPS listener", new DeviceHttpsServer(vertx, config, clock, pki, events,
                    monitor, db, devices, deviceAuth, gate, est, firmware, rollouts), DeviceHttpsServer::close);
            deviceHttps.start();

            // ---- periodic work, on worker threads of the event loops ----
            vertx.setPeriodic(1000, t -> vertx.executeBlocking(commands::expire, false));
            vertx.setPeriodic(10_000, t -> vertx.executeBlocking(lifecycle::enforceRetention, false));
            vertx.setPeriodic(2000, t -> vertx.executeBlocking(() -> {
                rollouts.tick();
                return null;
            }, false));

            BulwarkServer server = new BulwarkServer(opened, dataDir, pki.caPemFile(), db, monitor, events, sessions, quotas, api, httpsPort, writer,
                    telemetry, mqtt, deviceHttps);
            server.writePorts();
            release(initLock);
            LOG.info("Bulwark {} serving the REST API on https://{}:{}/api/v1 and MQTT over TLS on port {} (data: {}, database: {}, TLS: {})",
                    BulwarkServer.VERSION, config.bindAddress(), httpsPort, mqttPort, dataDir.root(),
                    config.embeddedDatabase() ? "embedded H2" : "external", dev.bulwark.server.pki.TlsPolicy.boringSsl() ? "BoringSSL" : "JDK");
            return server;
        } catch (RuntimeException e) {
            opened.close();
            throw e;
        }
    }

    private static void release(AutoCloseable lock) {
        try {
            lock.close();
        } catch (Exception e) {
            LOG.warn("could not release the data directory lock: {}", e.toString());
        }
    }

    private static Vertx eventLoops() {
        Vertx vertx = Vertx.vertx();
        vertx.exceptionHandler(t -> {
            if (t instanceof IllegalArgumentException && String.valueOf(t.getMessage()).contains("not connected client")) {
                // packets a client pipelined after we refused or closed its connection: nothing to do
                LOG.debug("ignored a packet after the connection ended: {}", t.getMessage());
            } else {
                LOG.error("unhandled exception on an event loop", t);
            }
        });
        return vertx;
    }

    private static void stop(Vertx vertx) {
        try {
            vertx.close().toCompletionStage().toCompletableFuture().get(10, TimeUnit.SECONDS);
        } catch (Exception e) {
            LOG.warn("event loop did not stop cleanly: {}", e.toString());
        }
    }

    /**
     * Creates the platform's first administrator when the database has none, and writes its token to
     * {@code <data>/bootstrap/admin.token} (owner-only). The token is never logged.
     */
    private static void bootstrap(Database db, DataDir dataDir, OperatorStore operators, ApiTokens apiTokens, AuditLog audit, Clock clock,
                                  ServerConfig config) {
        Path tokenFile = dataDir.dir("bootstrap").resolve("admin.token");
        db.tx(h -> {
            if (operators.anyInScope(h, OperatorPrincipal.PLATFORM_SCOPE)) {
                return null;
            }
            operators.create(h, OperatorPrincipal.PLATFORM_SCOPE, BulwarkServer.BOOTSTRAP_OPERATOR, EnumSet.of(Role.PLATFORM_ADMIN),
                    clock.nowMs());
            ApiTokens.Issued issued = apiTokens.issue(h, OperatorPrincipal.PLATFORM_SCOPE, BulwarkServer.BOOTSTRAP_OPERATOR,
                    config.bootstrapTokenTtl().toMillis());
            audit.append(h, new AuditEntry(null, "system", "platform.bootstrap",
                    "operator:" + OperatorPrincipal.PLATFORM_SCOPE + "/" + BulwarkServer.BOOTSTRAP_OPERATOR, "local", AuditEntry.SUCCESS,
                    "bootstrap platform-admin token " + issued.info().id()));
            DataDir.writeSecret(tokenFile, issued.secret().reveal() + "\n");
            LOG.info("created the bootstrap platform-admin token in {} (readable by its owner only)", tokenFile);
            return null;
        });
    }
}
