-- One-time, short-lived enrollment tokens for EST (RFC 7030) first enrollment. Only the SHA-256 of
-- the secret is stored; used_ms is set in the same transaction that issues the certificate.
CREATE TABLE enrollment_tokens (
    id            VARCHAR(16) NOT NULL PRIMARY KEY,
    tenant_id     VARCHAR(32) NOT NULL,
    device_id     VARCHAR(64) NOT NULL,
    secret_sha256 VARCHAR(64) NOT NULL,
    created_ms    BIGINT      NOT NULL,
    expires_ms    BIGINT      NOT NULL,
    created_by    VARCHAR(200) NOT NULL,
    used_ms       BIGINT,
    used_serial   VARCHAR(64),
    CONSTRAINT fk_enrollment_tokens_device FOREIGN KEY (tenant_id, device_id) REFERENCES devices (tenant_id, id)
);
CREATE INDEX ix_enrollment_tokens_device ON enrollment_tokens (tenant_id, device_id);
