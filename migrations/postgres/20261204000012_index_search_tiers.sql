-- Search ranks by tier: every word in the name first, then the other matches. The stored
-- vector's weights tell the tiers apart row by row; this index finds the name tier's rows
-- without rechecking every row that holds the word anywhere (queries spell the expression
-- exactly so).
CREATE INDEX metrics_name_search_idx ON metrics USING GIN (to_tsvector('english'::regconfig, name));
ANALYZE metrics;
