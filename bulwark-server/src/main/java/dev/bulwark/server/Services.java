package dev.bulwark.server;

import dev.bulwark.server.audit.AuditLog;
import dev.bulwark.server.config.DataDir;
import dev.bulwark.server.config.ServerConfig;
import dev.bulwark.server.device.CredentialStore;
import dev.bulwark.server.device.DeviceStore;
import dev.bulwark.server.device.DeviceRateLimits;
import dev.bulwark.server.device.LiveSessions;
import dev.bulwark.server.device.TenantQuotas;
import dev.bulwark.server.identity.ApiTokens;
import dev.bulwark.server.identity.OperatorStore;
import dev.bulwark.server.identity.TenantStore;
import dev.bulwark.server.monitor.SecurityEvents;
import dev.bulwark.server.pki.PlatformPki;
import dev.bulwark.server.pki.TenantCaStore;
import dev.bulwark.server.store.Database;

/** The node's services, handed to route modules and listeners. */
public record Services(ServerConfig config, DataDir dataDir, Clock clock, Database db, PlatformPki pki, AuditLog audit,
                       SecurityEvents securityEvents, ApiTokens apiTokens, TenantStore tenants, OperatorStore operators,
                       DeviceStore devices, CredentialStore credentials, TenantCaStore tenantCas, LiveSessions sessions,
                       DeviceRateLimits rateLimits, dev.bulwark.server.monitor.Monitor monitor, TenantQuotas quotas) {
}
