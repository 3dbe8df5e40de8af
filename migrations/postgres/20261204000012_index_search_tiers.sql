-- Search ranks by tier: every word in the name, else in the name and description, else
-- anywhere. One GIN index per tier expression gives the planner statistics to choose, per
-- query, between reading the index and walking the list's order (queries spell these
-- expressions exactly).
CREATE INDEX metrics_name_search_idx ON metrics USING GIN (to_tsvector('english'::regconfig, name));
CREATE INDEX metrics_head_search_idx ON metrics USING GIN (to_tsvector('english'::regconfig, name || ' ' || description));
ANALYZE metrics;
