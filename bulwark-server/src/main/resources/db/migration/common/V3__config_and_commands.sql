-- Device models (per tenant): the JSON Schema of their configuration and their command allowlist.
CREATE TABLE models (
    tenant_id      VARCHAR(32)   NOT NULL,
    id             VARCHAR(64)   NOT NULL,
    config_schema  VARCHAR(65536),
    updated_ms     BIGINT        NOT NULL,
    PRIMARY KEY (tenant_id, id)
);

-- Commands a model accepts, each with the JSON Schema of its parameters.
CREATE TABLE model_commands (
    tenant_id      VARCHAR(32)   NOT NULL,
    model          VARCHAR(64)   NOT NULL,
    name           VARCHAR(64)   NOT NULL,
    params_schema  VARCHAR(65536) NOT NULL,
    updated_ms     BIGINT        NOT NULL,
    PRIMARY KEY (tenant_id, model, name)
);

-- Desired configuration (set by operators, versioned) and reported configuration (sent by the device).
CREATE TABLE device_config (
    tenant_id        VARCHAR(32)    NOT NULL,
    device_id        VARCHAR(64)    NOT NULL,
    desired          VARCHAR(65536),
    desired_version  BIGINT         NOT NULL,
    desired_ms       BIGINT,
    reported         VARCHAR(65536),
    reported_ms      BIGINT,
    PRIMARY KEY (tenant_id, device_id)
);

-- Commands and their lifecycle: queued -> delivered -> succeeded | failed, or expired.
CREATE TABLE commands (
    tenant_id     VARCHAR(32)    NOT NULL,
    id            VARCHAR(32)    NOT NULL,
    device_id     VARCHAR(64)    NOT NULL,
    name          VARCHAR(64)    NOT NULL,
    params        VARCHAR(65536) NOT NULL,
    state         VARCHAR(16)    NOT NULL,
    created_ms    BIGINT         NOT NULL,
    expires_ms    BIGINT         NOT NULL,
    delivered_ms  BIGINT,
    completed_ms  BIGINT,
    result        VARCHAR(65536),
    created_by    VARCHAR(200)   NOT NULL,
    PRIMARY KEY (tenant_id, id)
);
CREATE INDEX ix_commands_device ON commands (tenant_id, device_id, state, created_ms);
