-- Alerts raised by the detector, and webhooks that receive them.
CREATE TABLE security_alerts (
    id          VARCHAR(32)   NOT NULL PRIMARY KEY,
    time_ms     BIGINT        NOT NULL,
    updated_ms  BIGINT        NOT NULL,
    tenant_id   VARCHAR(32),
    label       VARCHAR(40)   NOT NULL,
    severity    VARCHAR(16)   NOT NULL,
    subject     VARCHAR(300)  NOT NULL,
    evidence    VARCHAR(20000) NOT NULL,
    action      VARCHAR(1000) NOT NULL
);
CREATE INDEX ix_security_alerts_tenant_time ON security_alerts (tenant_id, time_ms);

CREATE TABLE webhooks (
    id          VARCHAR(32)   NOT NULL PRIMARY KEY,
    tenant_id   VARCHAR(32)   NOT NULL,
    url         VARCHAR(2000) NOT NULL,
    secret      VARCHAR(100)  NOT NULL,
    created_ms  BIGINT        NOT NULL,
    created_by  VARCHAR(200)  NOT NULL,
    CONSTRAINT fk_webhooks_tenant FOREIGN KEY (tenant_id) REFERENCES tenants (id)
);
CREATE INDEX ix_webhooks_tenant ON webhooks (tenant_id);
