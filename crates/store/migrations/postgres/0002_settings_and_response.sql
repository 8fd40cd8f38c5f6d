-- v2: the whole Response object as `response.completed` carried it (GET /v1/responses/{id}
-- returns it), and process-wide settings shared by every replica (the server secret).
ALTER TABLE responses ADD COLUMN response JSONB;

CREATE TABLE settings (
    name  TEXT PRIMARY KEY,
    value TEXT NOT NULL
);
