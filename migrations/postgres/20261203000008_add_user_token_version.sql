-- Access tokens carry the user's token version; revoking sessions bumps it, so every token
-- issued before the revocation is refused at once, on every instance.
ALTER TABLE users ADD COLUMN token_version BIGINT NOT NULL DEFAULT 0;
