-- Search blocks: which words occur in which stretch of the name order, so a search page can
-- start reading the name index where a word's first match can be, instead of at the start
-- (a word whose metrics all sort after the first half of the names read every match: 4 s at
-- 1M). docs/design.md ("Search blocks") has the design.
--
-- A row says: some metrics whose key (name, metric_id) is at least (lo_name, lo_id) hold
-- these name words and these words. The invariant a search relies on: every metric is
-- covered by a row whose lo is at most its key and whose lexemes include its own. A build
-- writes one row per block of consecutive metrics in name order (`appended` false); between
-- builds every write adds a row for each metric it writes, at the lo of its block
-- (`appended` true), and a write of many metrics marks the rows stale instead.
CREATE TABLE search_blocks (
    lo_name TEXT COLLATE "C" NOT NULL,
    lo_id TEXT COLLATE "C" NOT NULL,
    names TSVECTOR NOT NULL,
    words TSVECTOR NOT NULL,
    appended BOOLEAN NOT NULL
);

CREATE INDEX search_blocks_lo_idx ON search_blocks (lo_name, lo_id);
CREATE INDEX search_blocks_names_idx ON search_blocks USING GIN (names);
CREATE INDEX search_blocks_words_idx ON search_blocks USING GIN (words);
CREATE INDEX search_blocks_appended_idx ON search_blocks (appended) WHERE appended;

-- One row. `stale`: some metrics are not covered (a bulk load, or the rows before their
-- first build), so searches do without the blocks until the next build.
CREATE TABLE search_blocks_state (
    id INTEGER PRIMARY KEY CHECK (id = 1),
    stale BOOLEAN NOT NULL,
    block_rows INTEGER NOT NULL,
    blocks INTEGER NOT NULL,
    built_at TIMESTAMPTZ
);

INSERT INTO search_blocks_state (id, stale, block_rows, blocks)
SELECT 1, EXISTS (SELECT 1 FROM metrics), 0, 0;
