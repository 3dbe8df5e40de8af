-- Metric definitions: indexed columns for every filter and sort, plus the whole document.
CREATE TABLE metrics (
    metric_pk INTEGER PRIMARY KEY,
    metric_id TEXT NOT NULL UNIQUE,
    name TEXT NOT NULL,
    description TEXT NOT NULL,
    category TEXT NOT NULL,
    tier TEXT NOT NULL,
    business_domain TEXT NOT NULL,
    metric_type TEXT NOT NULL,
    status TEXT,
    owner_team TEXT,
    technical_owner TEXT,
    business_owner TEXT,
    search_text TEXT NOT NULL DEFAULT '',
    version INTEGER NOT NULL,
    created_at TEXT NOT NULL,
    created_by TEXT NOT NULL,
    updated_at TEXT NOT NULL,
    updated_by TEXT NOT NULL,
    doc TEXT NOT NULL
);

CREATE INDEX metrics_name_idx ON metrics (name, metric_id);
CREATE INDEX metrics_updated_at_idx ON metrics (updated_at, metric_id);
CREATE INDEX metrics_category_idx ON metrics (category, name, metric_id);
CREATE INDEX metrics_tier_idx ON metrics (tier, name, metric_id);
CREATE INDEX metrics_business_domain_idx ON metrics (business_domain, name, metric_id);
CREATE INDEX metrics_metric_type_idx ON metrics (metric_type, name, metric_id);
CREATE INDEX metrics_status_idx ON metrics (status, name, metric_id);
CREATE INDEX metrics_owner_team_idx ON metrics (owner_team);
CREATE INDEX metrics_technical_owner_idx ON metrics (technical_owner);
CREATE INDEX metrics_business_owner_idx ON metrics (business_owner);

CREATE TABLE metric_tags (
    tag TEXT NOT NULL,
    metric_pk INTEGER NOT NULL REFERENCES metrics (metric_pk) ON DELETE CASCADE,
    PRIMARY KEY (tag, metric_pk)
) WITHOUT ROWID;

CREATE INDEX metric_tags_metric_idx ON metric_tags (metric_pk);

-- Full-text index over the metrics table (external content), kept in step by triggers.
CREATE VIRTUAL TABLE metrics_fts USING fts5 (
    name, description, search_text,
    content = 'metrics', content_rowid = 'metric_pk',
    tokenize = 'porter unicode61'
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

-- Append-only: survives the metric's deletion.
CREATE TABLE metric_history (
    metric_id TEXT NOT NULL,
    version INTEGER NOT NULL,
    action TEXT NOT NULL,
    change_type TEXT NOT NULL,
    fields_changed TEXT NOT NULL,
    changed_by TEXT NOT NULL,
    changed_at TEXT NOT NULL,
    snapshot TEXT NOT NULL,
    PRIMARY KEY (metric_id, version)
);

CREATE TABLE domains (
    domain_id TEXT PRIMARY KEY,
    name TEXT NOT NULL,
    owner_team TEXT,
    version INTEGER NOT NULL,
    created_at TEXT NOT NULL,
    created_by TEXT NOT NULL,
    updated_at TEXT NOT NULL,
    updated_by TEXT NOT NULL,
    doc TEXT NOT NULL,
    CONSTRAINT domains_name_key UNIQUE (name)
);

CREATE INDEX domains_name_idx ON domains (name, domain_id);

CREATE TABLE objectives (
    objective_id TEXT PRIMARY KEY,
    name TEXT NOT NULL,
    status TEXT,
    owner_team TEXT,
    version INTEGER NOT NULL,
    created_at TEXT NOT NULL,
    created_by TEXT NOT NULL,
    updated_at TEXT NOT NULL,
    updated_by TEXT NOT NULL,
    doc TEXT NOT NULL
);

CREATE INDEX objectives_name_idx ON objectives (name, objective_id);
CREATE INDEX objectives_status_idx ON objectives (status);

-- Catalog-level fields of imported files (catalog_version, catalog_name, owner_team, ...).
CREATE TABLE catalog_info (
    catalog_info_id INTEGER PRIMARY KEY CHECK (catalog_info_id = 1),
    doc TEXT NOT NULL,
    updated_at TEXT NOT NULL
);
