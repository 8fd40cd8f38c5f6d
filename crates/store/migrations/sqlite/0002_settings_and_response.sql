-- v2: the whole Response object as `response.completed` carried it (GET /v1/responses/{id}
-- returns it), and process-wide settings shared by every replica (the server secret).
ALTER TABLE responses ADD COLUMN response TEXT;

CREATE TABLE settings (
    name  TEXT PRIMARY KEY NOT NULL,
    value TEXT NOT NULL
);
