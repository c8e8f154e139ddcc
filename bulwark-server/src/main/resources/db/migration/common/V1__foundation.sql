-- Foundation schema: tenants, operators, API tokens, devices and their credentials, tenant CAs,
-- the hash-chained audit log and security events. Runs unchanged on H2 and PostgreSQL.
-- Times are epoch milliseconds (BIGINT): identical on both databases and exact inside audit hashes.
-- Every table holding tenant data carries tenant_id, and every query on it filters by tenant_id.

CREATE TABLE tenants (
    id          VARCHAR(32)  NOT NULL PRIMARY KEY,
    name        VARCHAR(200) NOT NULL,
    created_ms  BIGINT       NOT NULL
);

-- Operators of the platform itself use tenant_id '_platform', which is outside the tenant id grammar.
CREATE TABLE operators (
    tenant_id   VARCHAR(32)  NOT NULL,
    name        VARCHAR(64)  NOT NULL,
    roles       VARCHAR(400) NOT NULL,
    created_ms  BIGINT       NOT NULL,
    PRIMARY KEY (tenant_id, name)
);

CREATE TABLE api_tokens (
    id            VARCHAR(16) NOT NULL PRIMARY KEY,
    tenant_id     VARCHAR(32) NOT NULL,
    operator_name VARCHAR(64) NOT NULL,
    secret_sha256 VARCHAR(64) NOT NULL,
    created_ms    BIGINT      NOT NULL,
    expires_ms    BIGINT      NOT NULL,
    revoked_ms    BIGINT,
    CONSTRAINT fk_api_tokens_operator FOREIGN KEY (tenant_id, operator_name) REFERENCES operators (tenant_id, name)
);
CREATE INDEX ix_api_tokens_operator ON api_tokens (tenant_id, operator_name);

CREATE TABLE devices (
    tenant_id   VARCHAR(32) NOT NULL,
    id          VARCHAR(64) NOT NULL,
    model       VARCHAR(64) NOT NULL,
    status      VARCHAR(16) NOT NULL,
    created_ms  BIGINT      NOT NULL,
    updated_ms  BIGINT      NOT NULL,
    PRIMARY KEY (tenant_id, id),
    CONSTRAINT fk_devices_tenant FOREIGN KEY (tenant_id) REFERENCES tenants (id)
);

-- ca_id is 'platform' for certificates issued by the platform CA, else the id of a tenant CA.
CREATE TABLE device_certificates (
    tenant_id       VARCHAR(32)   NOT NULL,
    device_id       VARCHAR(64)   NOT NULL,
    serial          VARCHAR(64)   NOT NULL,
    ca_id           VARCHAR(40)   NOT NULL,
    fingerprint     VARCHAR(64)   NOT NULL,
    key_fingerprint VARCHAR(64)   NOT NULL,
    subject         VARCHAR(400)  NOT NULL,
    not_before_ms   BIGINT        NOT NULL,
    not_after_ms    BIGINT        NOT NULL,
    status          VARCHAR(16)   NOT NULL,
    revoked_ms      BIGINT,
    revoke_reason   VARCHAR(200),
    created_ms      BIGINT        NOT NULL,
    pem             VARCHAR(8000) NOT NULL,
    PRIMARY KEY (tenant_id, device_id, serial),
    CONSTRAINT uq_device_certificates_issuer_serial UNIQUE (ca_id, serial),
    CONSTRAINT uq_device_certificates_fingerprint UNIQUE (fingerprint),
    CONSTRAINT fk_device_certificates_device FOREIGN KEY (tenant_id, device_id) REFERENCES devices (tenant_id, id)
);
CREATE INDEX ix_device_certificates_key ON device_certificates (key_fingerprint);

CREATE TABLE device_tokens (
    id            VARCHAR(16) NOT NULL PRIMARY KEY,
    tenant_id     VARCHAR(32) NOT NULL,
    device_id     VARCHAR(64) NOT NULL,
    secret_sha256 VARCHAR(64) NOT NULL,
    created_ms    BIGINT      NOT NULL,
    expires_ms    BIGINT      NOT NULL,
    revoked_ms    BIGINT,
    CONSTRAINT fk_device_tokens_device FOREIGN KEY (tenant_id, device_id) REFERENCES devices (tenant_id, id)
);
CREATE INDEX ix_device_tokens_device ON device_tokens (tenant_id, device_id);

CREATE TABLE ca_challenges (
    challenge   VARCHAR(64) NOT NULL PRIMARY KEY,
    tenant_id   VARCHAR(32) NOT NULL,
    created_ms  BIGINT      NOT NULL,
    expires_ms  BIGINT      NOT NULL,
    used_ms     BIGINT
);

CREATE TABLE tenant_cas (
    id              VARCHAR(40)   NOT NULL PRIMARY KEY,
    tenant_id       VARCHAR(32)   NOT NULL,
    subject         VARCHAR(400)  NOT NULL,
    fingerprint     VARCHAR(64)   NOT NULL,
    key_fingerprint VARCHAR(64)   NOT NULL,
    not_after_ms    BIGINT        NOT NULL,
    status          VARCHAR(16)   NOT NULL,
    created_ms      BIGINT        NOT NULL,
    revoked_ms      BIGINT,
    pem             VARCHAR(8000) NOT NULL,
    CONSTRAINT uq_tenant_cas_fingerprint UNIQUE (fingerprint),
    CONSTRAINT fk_tenant_cas_tenant FOREIGN KEY (tenant_id) REFERENCES tenants (id)
);
CREATE INDEX ix_tenant_cas_tenant ON tenant_cas (tenant_id);

-- The operator audit log: an append-only hash chain. hash = SHA-256(prev_hash || canonical entry).
-- audit_head holds the last (seq, hash) and is locked by every append, which serialises appends
-- across connections and nodes. tenant_id is NULL for platform-level actions.
CREATE TABLE audit_log (
    seq        BIGINT        NOT NULL PRIMARY KEY,
    time_ms    BIGINT        NOT NULL,
    tenant_id  VARCHAR(32),
    actor      VARCHAR(200)  NOT NULL,
    action     VARCHAR(100)  NOT NULL,
    target     VARCHAR(400)  NOT NULL,
    source     VARCHAR(100)  NOT NULL,
    outcome    VARCHAR(20)   NOT NULL,
    detail     VARCHAR(1000) NOT NULL,
    prev_hash  VARCHAR(64)   NOT NULL,
    hash       VARCHAR(64)   NOT NULL
);
CREATE INDEX ix_audit_log_tenant ON audit_log (tenant_id, seq);

CREATE TABLE audit_head (
    id    INT         NOT NULL PRIMARY KEY,
    seq   BIGINT      NOT NULL,
    hash  VARCHAR(64) NOT NULL
);
INSERT INTO audit_head (id, seq, hash) VALUES (1, 0, '0000000000000000000000000000000000000000000000000000000000000000');

-- Signed checkpoints of the chain: Ed25519 over "bulwark-audit-checkpoint|seq|hash".
CREATE TABLE audit_checkpoints (
    seq        BIGINT       NOT NULL PRIMARY KEY,
    hash       VARCHAR(64)  NOT NULL,
    time_ms    BIGINT       NOT NULL,
    key_id     VARCHAR(64)  NOT NULL,
    signature  VARCHAR(200) NOT NULL
);

CREATE TABLE security_events (
    id              BIGINT GENERATED BY DEFAULT AS IDENTITY PRIMARY KEY,
    time_ms         BIGINT        NOT NULL,
    tenant_id       VARCHAR(32),
    type            VARCHAR(64)   NOT NULL,
    reason          VARCHAR(400)  NOT NULL,
    identity        VARCHAR(200),
    source_address  VARCHAR(64),
    source_port     INT,
    channel         VARCHAR(16)   NOT NULL,
    detail          VARCHAR(1000)
);
CREATE INDEX ix_security_events_tenant ON security_events (tenant_id, id);
