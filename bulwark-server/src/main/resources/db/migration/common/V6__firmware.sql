-- Firmware: each tenant's chain of signed roots, releases (signed targets and the image, encrypted under a
-- data key per image that is wrapped by the key-encryption key outside the database), rollouts and the
-- devices' install reports.
CREATE TABLE firmware_roots (
    tenant_id   VARCHAR(32)    NOT NULL,
    version     BIGINT         NOT NULL,
    envelope    VARCHAR(65536) NOT NULL,
    created_ms  BIGINT         NOT NULL,
    created_by  VARCHAR(200)   NOT NULL,
    PRIMARY KEY (tenant_id, version),
    CONSTRAINT fk_firmware_roots_tenant FOREIGN KEY (tenant_id) REFERENCES tenants (id)
);

CREATE TABLE firmware_releases (
    id             VARCHAR(32)    NOT NULL PRIMARY KEY,
    tenant_id      VARCHAR(32)    NOT NULL,
    model          VARCHAR(64)    NOT NULL,
    version        VARCHAR(200)   NOT NULL,
    version_number BIGINT         NOT NULL,
    sha256         VARCHAR(64)    NOT NULL,
    length         BIGINT         NOT NULL,
    targets        VARCHAR(65536) NOT NULL,
    wrapped_key    BYTEA          NOT NULL,
    nonce          BYTEA          NOT NULL,
    image          BYTEA          NOT NULL,
    created_ms     BIGINT         NOT NULL,
    created_by     VARCHAR(200)   NOT NULL,
    CONSTRAINT uq_firmware_release_version UNIQUE (tenant_id, model, version_number),
    CONSTRAINT fk_firmware_releases_tenant FOREIGN KEY (tenant_id) REFERENCES tenants (id)
);

CREATE TABLE rollouts (
    id           VARCHAR(32)   NOT NULL PRIMARY KEY,
    tenant_id    VARCHAR(32)   NOT NULL,
    release_id   VARCHAR(32)   NOT NULL,
    model        VARCHAR(64)   NOT NULL,
    device_group VARCHAR(2000),
    stages       VARCHAR(200)  NOT NULL,
    stage        INT           NOT NULL,
    state        VARCHAR(16)   NOT NULL,
    max_failure_percent INT    NOT NULL,
    reason       VARCHAR(500),
    created_ms   BIGINT        NOT NULL,
    updated_ms   BIGINT        NOT NULL,
    created_by   VARCHAR(200)  NOT NULL,
    CONSTRAINT fk_rollouts_release FOREIGN KEY (release_id) REFERENCES firmware_releases (id)
);

CREATE TABLE rollout_devices (
    rollout_id  VARCHAR(32)  NOT NULL,
    tenant_id   VARCHAR(32)  NOT NULL,
    device_id   VARCHAR(64)  NOT NULL,
    offered_ms  BIGINT       NOT NULL,
    state       VARCHAR(16)  NOT NULL,
    reason      VARCHAR(500),
    updated_ms  BIGINT       NOT NULL,
    PRIMARY KEY (rollout_id, device_id),
    CONSTRAINT fk_rollout_devices_rollout FOREIGN KEY (rollout_id) REFERENCES rollouts (id)
);
