-- The state a device had when it was quarantined, restored when the quarantine is lifted.
ALTER TABLE devices ADD COLUMN quarantined_from VARCHAR(16);
