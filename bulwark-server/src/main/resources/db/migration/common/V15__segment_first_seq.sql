-- Paging a device's messages stays exact when two nodes of a cluster wrote segments of one device whose seq
-- ranges overlap: the reader looks, within a bounded seq window, for segments that start before its page ends.
CREATE INDEX ix_segments_first_seq ON telemetry_segments (tenant_id, device_id, kind, first_seq);
