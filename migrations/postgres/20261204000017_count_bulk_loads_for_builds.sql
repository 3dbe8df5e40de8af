-- Bulk loads no longer share the builds' advisory lock. A load waited for a running build
-- (12-38 s at 1M) under its statement timeout, and a seed or import failed whenever a
-- server's periodic build was running. Instead each load bumps `loads` as its last write; a
-- build reads it before it reads the catalog and clears `stale` only if no load landed
-- since (see store::postgres::blocks).
ALTER TABLE search_blocks_state ADD COLUMN loads BIGINT NOT NULL DEFAULT 0;
