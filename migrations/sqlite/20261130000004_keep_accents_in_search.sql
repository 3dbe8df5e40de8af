-- Keep accents, as PostgreSQL's `english` configuration does, so a search finds the same
-- metrics on both backends ("cafe" matches neither "café" there nor here).
DROP TRIGGER metrics_fts_insert;
DROP TRIGGER metrics_fts_delete;
DROP TRIGGER metrics_fts_update;
DROP TABLE metrics_fts;

CREATE VIRTUAL TABLE metrics_fts USING fts5 (
    name, description, search_text,
    content = 'metrics', content_rowid = 'metric_pk',
    tokenize = 'porter unicode61 remove_diacritics 0'
);

CREATE TRIGGER metrics_fts_insert AFTER INSERT ON metrics BEGIN
    INSERT INTO metrics_fts (rowid, name, description, search_text)
    VALUES (new.metric_pk, new.name, new.description, new.search_text);
END;

CREATE TRIGGER metrics_fts_delete AFTER DELETE ON metrics BEGIN
    INSERT INTO metrics_fts (metrics_fts, rowid, name, description, search_text)
    VALUES ('delete', old.metric_pk, old.name, old.description, old.search_text);
END;

CREATE TRIGGER metrics_fts_update AFTER UPDATE ON metrics BEGIN
    INSERT INTO metrics_fts (metrics_fts, rowid, name, description, search_text)
    VALUES ('delete', old.metric_pk, old.name, old.description, old.search_text);
    INSERT INTO metrics_fts (rowid, name, description, search_text)
    VALUES (new.metric_pk, new.name, new.description, new.search_text);
END;

INSERT INTO metrics_fts (metrics_fts) VALUES ('rebuild');
