-- The last version of deleted domains and objectives, so a re-created id continues its
-- numbering and an old ETag never matches a new entity. (Metrics use their history.)
CREATE TABLE tombstones (
    entity TEXT NOT NULL,
    entity_id TEXT NOT NULL,
    last_version BIGINT NOT NULL,
    PRIMARY KEY (entity, entity_id)
);
