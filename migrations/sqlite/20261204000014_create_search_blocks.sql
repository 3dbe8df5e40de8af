-- Search blocks: which words occur in which stretch of the name order, so a search page can
-- start reading the name index where a word's first match can be, instead of at the start
-- (a word whose metrics all sort after the first half of the names read every match: 0.8 s
-- at 1M). docs/design.md ("Search blocks") has the design.
--
-- Block b covers the keys (name, metric_id) from its lo up to the next block's lo; block 0
-- starts at ('', ''), so every key has a block. Its words live in search_block_fts (names
-- also in search_block_names_fts) under
-- rowids b << 40 (the build's text of the whole block) and (b << 40) + k for k = 1..appended
-- (a metric written since the build, its text as written). A write of many metrics marks
-- the blocks stale instead.
CREATE TABLE search_blocks (
    block INTEGER PRIMARY KEY,
    lo_name TEXT NOT NULL,
    lo_id TEXT NOT NULL,
    appended INTEGER NOT NULL DEFAULT 0
);

CREATE UNIQUE INDEX search_blocks_lo_idx ON search_blocks (lo_name, lo_id);

-- Same tokenizer and columns as metrics_fts, so the same words match. Contentless: only
-- whether a block holds a word is ever asked.
CREATE VIRTUAL TABLE search_block_fts USING fts5 (
    name, description, search_text,
    content = '',
    tokenize = 'porter unicode61 remove_diacritics 0'
);

-- The names again, under the same rowids, for the first search tier: a column filter on
-- search_block_fts reads a word's every position to find those in names (a word in every
-- description: 1M positions at 1M metrics, 20 ms a search).
CREATE VIRTUAL TABLE search_block_names_fts USING fts5 (
    name,
    content = '',
    tokenize = 'porter unicode61 remove_diacritics 0'
);

CREATE TABLE search_blocks_state (
    id INTEGER PRIMARY KEY CHECK (id = 1),
    stale INTEGER NOT NULL,
    block_rows INTEGER NOT NULL,
    blocks INTEGER NOT NULL,
    built_at TEXT
);

INSERT INTO search_blocks (block, lo_name, lo_id) VALUES (0, '', '');
INSERT INTO search_blocks_state (id, stale, block_rows, blocks)
SELECT 1, EXISTS (SELECT 1 FROM metrics), 0, 1;
