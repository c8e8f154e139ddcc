-- Per-tenant retention of device data, and owners' data exports (right of access).
CREATE TABLE tenant_settings (
    tenant_id       VARCHAR(32) NOT NULL PRIMARY KEY,
    retention_days  INT         NOT NULL,
    updated_ms      BIGINT      NOT NULL,
    CONSTRAINT fk_tenant_settings_tenant FOREIGN KEY (tenant_id) REFERENCES tenants (id)
);

CREATE TABLE exports (
    id           VARCHAR(32)  NOT NULL PRIMARY KEY,
    tenant_id    VARCHAR(32)  NOT NULL,
    owner_id     VARCHAR(32)  NOT NULL,
    state        VARCHAR(16)  NOT NULL,
    rows_total   BIGINT       NOT NULL,
    rows_done    BIGINT       NOT NULL,
    created_ms   BIGINT       NOT NULL,
    finished_ms  BIGINT
);
CREATE INDEX ix_exports_owner ON exports (tenant_id, owner_id);
