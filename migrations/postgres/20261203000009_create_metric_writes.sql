-- Committed metric writes, counted so that a bundle's revision can be read without reading
-- the catalog: every transaction that changes a metric adds one to a shard. Sixteen shards
-- instead of one row, so concurrent writers do not queue on a single row lock; their sum
-- still moves with every commit.
CREATE TABLE metric_writes (
    shard BIGINT PRIMARY KEY,
    writes BIGINT NOT NULL DEFAULT 0
);
INSERT INTO metric_writes (shard) VALUES (0), (1), (2), (3), (4), (5), (6), (7), (8), (9), (10), (11), (12), (13), (14), (15);
