-- Owners (the people who bought devices) and ownership periods. Every period has its own data key, kept
-- outside the database (<data>/keys/data/<key_id>); an owner's personal data is sealed under the owner's key.
CREATE TABLE owners (
    id          VARCHAR(32)  NOT NULL PRIMARY KEY,
    tenant_id   VARCHAR(32)  NOT NULL,
    key_id      VARCHAR(64)  NOT NULL,
    profile     BYTEA        NOT NULL,
    created_ms  BIGINT       NOT NULL,
    CONSTRAINT fk_owners_tenant FOREIGN KEY (tenant_id) REFERENCES tenants (id)
);

CREATE TABLE ownership_periods (
    id          VARCHAR(32)  NOT NULL PRIMARY KEY,
    tenant_id   VARCHAR(32)  NOT NULL,
    device_id   VARCHAR(64)  NOT NULL,
    owner_id    VARCHAR(32),
    key_id      VARCHAR(64)  NOT NULL,
    start_ms    BIGINT       NOT NULL,
    end_ms      BIGINT,
    CONSTRAINT fk_periods_device FOREIGN KEY (tenant_id, device_id) REFERENCES devices (tenant_id, id)
);
CREATE INDEX ix_periods_device ON ownership_periods (tenant_id, device_id, start_ms);
CREATE INDEX ix_periods_owner ON ownership_periods (tenant_id, owner_id);
-- no index on device_messages.key_id: a period's messages are found through its device (the device index),
-- and a second index keyed by a value per device would cost the ingest path a page per device per commit
