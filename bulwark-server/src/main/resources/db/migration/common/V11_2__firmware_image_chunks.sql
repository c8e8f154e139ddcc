-- Firmware images sealed in 64 KiB chunks (AES-256-GCM per chunk under the release's data key, each chunk's
-- position and the chunk count bound in its associated data), so that a byte range is read and decrypted
-- chunk by chunk instead of whole. chunk_size is NULL for releases stored before: their image column holds
-- the whole image sealed at once.
ALTER TABLE firmware_releases ADD COLUMN chunk_size INT;

CREATE TABLE firmware_image_chunks (
    release_id  VARCHAR(32) NOT NULL,
    idx         INT         NOT NULL,
    sealed      BYTEA       NOT NULL,
    PRIMARY KEY (release_id, idx),
    CONSTRAINT fk_firmware_image_chunks_release FOREIGN KEY (release_id) REFERENCES firmware_releases (id) ON DELETE CASCADE
);
