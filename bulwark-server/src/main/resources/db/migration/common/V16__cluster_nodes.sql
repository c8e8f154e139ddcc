-- The nodes of a cluster running now, one row per node id: a node refuses to start under an id a running node
-- holds (its heartbeat is fresh), since two nodes sharing an id would ignore each other's records and share an inbox,
-- leases and a northbound outbox.
CREATE TABLE cluster_nodes (
    node_id      VARCHAR(32) NOT NULL PRIMARY KEY,
    run_id       VARCHAR(32) NOT NULL,
    started_ms   BIGINT      NOT NULL,
    heartbeat_ms BIGINT      NOT NULL
);
