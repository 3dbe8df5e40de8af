-- Exact counts of metrics per facet value (and in all, facet `total`), kept by every write
-- transaction, so stats and the totals of unfiltered or one-filter lists need no scan. SQLite
-- has one writer at a time, so writes use shard 0 only (the column matches PostgreSQL's
-- sharded table). NULL columns are not counted: their count is the total minus the counted
-- values. `owner` counts a metric once per distinct name among its owner team, technical and
-- business owner (the `owner` filter).
CREATE TABLE metric_counts (
    facet TEXT NOT NULL,
    value TEXT NOT NULL,
    shard INTEGER NOT NULL,
    n BIGINT NOT NULL,
    PRIMARY KEY (facet, value, shard)
) WITHOUT ROWID;

INSERT INTO metric_counts (facet, value, shard, n)
SELECT 'total', '', 0, COUNT(*) FROM metrics
UNION ALL SELECT 'category', category, 0, COUNT(*) FROM metrics GROUP BY category
UNION ALL SELECT 'tier', tier, 0, COUNT(*) FROM metrics GROUP BY tier
UNION ALL SELECT 'metric_type', metric_type, 0, COUNT(*) FROM metrics GROUP BY metric_type
UNION ALL SELECT 'business_domain', business_domain, 0, COUNT(*) FROM metrics GROUP BY business_domain
UNION ALL SELECT 'owner_team', owner_team, 0, COUNT(*) FROM metrics WHERE owner_team IS NOT NULL GROUP BY owner_team
UNION ALL SELECT 'status', status, 0, COUNT(*) FROM metrics WHERE status IS NOT NULL GROUP BY status
UNION ALL SELECT 'owner', o, 0, COUNT(*) FROM (
    SELECT metric_id, owner_team AS o FROM metrics
    UNION SELECT metric_id, technical_owner FROM metrics
    UNION SELECT metric_id, business_owner FROM metrics
) owners WHERE o IS NOT NULL GROUP BY o;
