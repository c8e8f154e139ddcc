-- The device -> node lease of a cluster: which node holds the device's one live session, fenced by an epoch
-- that grows with every new session of the device (a node whose lease was superseded cannot deliver to it).
CREATE TABLE device_leases (
    tenant_id  VARCHAR(32)  NOT NULL,
    device_id  VARCHAR(64)  NOT NULL,
    node_id    VARCHAR(32)  NOT NULL,
    epoch      BIGINT       NOT NULL,
    session_id VARCHAR(32)  NOT NULL,
    source     VARCHAR(80),
    since_ms   BIGINT       NOT NULL,
    PRIMARY KEY (tenant_id, device_id)
);
CREATE INDEX device_leases_node ON device_leases (node_id);
