-- Webhook signing secrets are stored wrapped by the key-encryption key (bound to the webhook id), base64.
ALTER TABLE webhooks ALTER COLUMN secret SET DATA TYPE VARCHAR(400);
