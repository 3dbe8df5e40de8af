-- Metric definitions: indexed columns for every filter and sort, plus the whole document.
-- Text that is sorted uses the "C" collation so both backends order identically (bytewise).
CREATE TABLE metrics (
    metric_id TEXT COLLATE "C" PRIMARY KEY,
    name TEXT COLLATE "C" NOT NULL,
    description TEXT NOT NULL,
    category TEXT NOT NULL,
    tier TEXT NOT NULL,
    business_domain TEXT NOT NULL,
    metric_type TEXT NOT NULL,
    status TEXT,
    owner_team TEXT,
    technical_owner TEXT,
    business_owner TEXT,
    tags TEXT[] NOT NULL DEFAULT '{}',
    search_text TEXT NOT NULL DEFAULT '',
    search TSVECTOR GENERATED ALWAYS AS (
        setweight(to_tsvector('english', name), 'A')
        || setweight(to_tsvector('english', description), 'B')
        || setweight(to_tsvector('english', search_text), 'C')
    ) STORED,
    version BIGINT NOT NULL,
    created_at TIMESTAMPTZ NOT NULL,
    created_by TEXT NOT NULL,
    updated_at TIMESTAMPTZ NOT NULL,
    updated_by TEXT NOT NULL,
    -- json (not jsonb) keeps the client's key order and spelling exactly.
    doc JSON NOT NULL
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
CREATE INDEX metrics_tags_idx ON metrics USING GIN (tags);
CREATE INDEX metrics_search_idx ON metrics USING GIN (search);

-- Append-only: survives the metric's deletion.
CREATE TABLE metric_history (
    metric_id TEXT COLLATE "C" NOT NULL,
    version BIGINT NOT NULL,
    action TEXT NOT NULL,
    change_type TEXT NOT NULL,
    fields_changed JSONB NOT NULL,
    changed_by TEXT NOT NULL,
    changed_at TIMESTAMPTZ NOT NULL,
    snapshot JSON NOT NULL,
    PRIMARY KEY (metric_id, version)
);

CREATE TABLE domains (
    domain_id TEXT COLLATE "C" PRIMARY KEY,
    name TEXT COLLATE "C" NOT NULL,
    owner_team TEXT,
    version BIGINT NOT NULL,
    created_at TIMESTAMPTZ NOT NULL,
    created_by TEXT NOT NULL,
    updated_at TIMESTAMPTZ NOT NULL,
    updated_by TEXT NOT NULL,
    doc JSON NOT NULL,
    CONSTRAINT domains_name_key UNIQUE (name)
);

CREATE INDEX domains_name_idx ON domains (name, domain_id);

CREATE TABLE objectives (
    objective_id TEXT COLLATE "C" PRIMARY KEY,
    name TEXT COLLATE "C" NOT NULL,
    status TEXT,
    owner_team TEXT,
    version BIGINT NOT NULL,
    created_at TIMESTAMPTZ NOT NULL,
    created_by TEXT NOT NULL,
    updated_at TIMESTAMPTZ NOT NULL,
    updated_by TEXT NOT NULL,
    doc JSON NOT NULL
);

CREATE INDEX objectives_name_idx ON objectives (name, objective_id);
CREATE INDEX objectives_status_idx ON objectives (status);

-- Catalog-level fields of imported files (catalog_version, catalog_name, owner_team, ...).
CREATE TABLE catalog_info (
    catalog_info_id INTEGER PRIMARY KEY CHECK (catalog_info_id = 1),
    doc JSON NOT NULL,
    updated_at TIMESTAMPTZ NOT NULL
);
