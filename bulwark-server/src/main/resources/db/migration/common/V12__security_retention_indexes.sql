-- The security event retention deletes by age: an index on the time, so the purge reads only what it deletes
-- instead of scanning every event and alert.
CREATE INDEX ix_security_events_time ON security_events (time_ms);
CREATE INDEX ix_security_alerts_updated ON security_alerts (updated_ms);
