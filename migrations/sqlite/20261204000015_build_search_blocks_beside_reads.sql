-- Search blocks are built beside the ones searches read, a block per short write transaction,
-- and swapped in at the end: a build in one transaction held SQLite's single write lock for
-- 26-108 s at 1M metrics, and writers failed past their busy timeout.
--
-- Each build takes block numbers above every existing one, so two builds' rows never share
-- a rowid; search_blocks_state says which numbers searches read ([base, base + blocks)) and
-- which a running build writes ([build_base, build_next)). A write during a build covers its
-- metric in both: in the build's blocks only when its key is at most the last key the build
-- has read (a later key is read by the build itself). Rows below base are deleted after a
-- swap, which needs contentless_delete. The rowids are block << 32 plus a sequence number.
--
-- The tables are made anew (their rowids change shape): the blocks start stale, and the
-- server's check or the CLI builds them.
DROP TABLE search_block_fts;
DROP TABLE search_block_names_fts;
DROP TABLE search_blocks;
DROP TABLE search_blocks_state;

CREATE TABLE search_blocks (
    block INTEGER PRIMARY KEY,
    lo_name TEXT NOT NULL,
    lo_id TEXT NOT NULL,
    appended INTEGER NOT NULL DEFAULT 0
);

-- Not unique: the blocks of the build being read and of the one being written overlap.
CREATE INDEX search_blocks_lo_idx ON search_blocks (lo_name, lo_id);

CREATE VIRTUAL TABLE search_block_fts USING fts5 (
    name, description, search_text,
    content = '',
    contentless_delete = 1,
    tokenize = 'porter unicode61 remove_diacritics 0'
);

CREATE VIRTUAL TABLE search_block_names_fts USING fts5 (
    name,
    content = '',
    contentless_delete = 1,
    tokenize = 'porter unicode61 remove_diacritics 0'
);

CREATE TABLE search_blocks_state (
    id INTEGER PRIMARY KEY CHECK (id = 1),
    stale INTEGER NOT NULL,
    block_rows INTEGER NOT NULL,
    -- The blocks searches read: base, base + 1, ..., base + blocks - 1.
    base INTEGER NOT NULL,
    blocks INTEGER NOT NULL,
    built_at TEXT,
    -- A build in progress (NULL when none): its first block, its next block, the last key
    -- it has read, whether a bulk load marked the blocks stale since it began (its result is
    -- then stale too), and when it last wrote (unix ms; a silent build is taken over).
    build_base INTEGER,
    build_next INTEGER,
    build_name TEXT,
    build_id TEXT,
    build_stale INTEGER NOT NULL DEFAULT 0,
    build_beat INTEGER
);

INSERT INTO search_blocks (block, lo_name, lo_id) VALUES (0, '', '');
INSERT INTO search_blocks_state (id, stale, block_rows, base, blocks)
SELECT 1, EXISTS (SELECT 1 FROM metrics), 0, 0, 1;
