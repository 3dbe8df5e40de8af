-- Tag counts join the facet counters (facet `tag`, a metric counted once under each distinct
-- tag), so the total of a list filtered by one tag needs no count of its matches (1.9 s at
-- 1M metrics for a tag on a ninth of them). They start from the rows already there; from now
-- on every write keeps them, as it keeps the other facets.
INSERT INTO metric_counts (facet, value, shard, n)
SELECT 'tag', tag, 0, COUNT(DISTINCT metric_id)
FROM metrics, unnest(tags) AS tag
GROUP BY tag
ON CONFLICT (facet, value, shard) DO UPDATE SET n = metric_counts.n + excluded.n;
