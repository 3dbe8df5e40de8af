-- Server-wide values every instance must agree on, such as the generated JWT secret.
CREATE TABLE settings (
    setting_key TEXT PRIMARY KEY,
    setting_value TEXT NOT NULL
);
