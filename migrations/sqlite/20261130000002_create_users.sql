-- Accounts. Usernames and emails are stored lower-case; the hash is an Argon2id PHC string.
CREATE TABLE users (
    user_id TEXT PRIMARY KEY,
    username TEXT NOT NULL,
    email TEXT NOT NULL,
    full_name TEXT,
    role TEXT NOT NULL CHECK (role IN ('viewer', 'editor', 'admin')),
    status TEXT NOT NULL CHECK (status IN ('active', 'inactive', 'suspended')),
    password_hash TEXT NOT NULL,
    created_at TEXT NOT NULL,
    updated_at TEXT NOT NULL,
    CONSTRAINT users_username_key UNIQUE (username),
    CONSTRAINT users_email_key UNIQUE (email)
);
