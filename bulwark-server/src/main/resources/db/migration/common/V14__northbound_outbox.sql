-- Northbound publishing (cluster mode): the telemetry log rows each node committed and Kafka has not yet
-- confirmed. A row is added in the transaction that appends the log row and deleted once every message of it is
-- on its tenant's topic; what a node finds here when it starts is published again. Log rows hold the messages of
-- any tenants (that is what makes a group commit cheap), so these rows name no tenant.
CREATE TABLE northbound_outbox (
    node_id  VARCHAR(32) NOT NULL,
    log_id   BIGINT      NOT NULL,
    PRIMARY KEY (node_id, log_id)
);
-- a node republishing after a crash finds its messages that were moved into segments by their sequence numbers
CREATE INDEX ix_segments_seq ON telemetry_segments (last_seq);
