-- v3: governance (issue 14). Virtual keys by the keyed hash of their secret (never the secret),
-- the spend ledger per budget scope and calendar window, and one usage row per request.
-- Times are Unix seconds; money is integer micro-USD; JSON is jsonb.
CREATE TABLE virtual_keys (
    id         TEXT   PRIMARY KEY,
    key_hash   TEXT   NOT NULL UNIQUE,
    name       TEXT   NOT NULL,
    principal  TEXT,
    team       TEXT,
    policy     JSONB  NOT NULL,
    metadata   JSONB  NOT NULL,
    expires_at BIGINT,
    revoked_at BIGINT,
    created_at BIGINT NOT NULL
);
CREATE INDEX virtual_keys_principal ON virtual_keys (principal);
CREATE INDEX virtual_keys_team ON virtual_keys (team);

-- One row per (scope, window): what was settled there. Replicas add to it concurrently.
CREATE TABLE spend_ledger (
    scope_kind      TEXT   NOT NULL CHECK (scope_kind IN ('key', 'principal', 'team', 'global')),
    scope_id        TEXT   NOT NULL,
    window_kind     TEXT   NOT NULL CHECK (window_kind IN ('day', 'week', 'month')),
    window_start    BIGINT NOT NULL,
    spent_micro_usd BIGINT NOT NULL,
    request_count   BIGINT NOT NULL,
    PRIMARY KEY (scope_kind, scope_id, window_kind, window_start)
);

CREATE TABLE usage_records (
    id                  BIGSERIAL PRIMARY KEY,
    request_id          TEXT   NOT NULL,
    created_at          BIGINT NOT NULL,
    key_id              TEXT,
    principal           TEXT,
    team                TEXT,
    backend             TEXT   NOT NULL,
    model               TEXT   NOT NULL,
    input_tokens        BIGINT NOT NULL,
    cached_input_tokens BIGINT NOT NULL,
    output_tokens       BIGINT NOT NULL,
    reasoning_tokens    BIGINT NOT NULL,
    cost_micro_usd      BIGINT NOT NULL,
    latency_ms          BIGINT NOT NULL,
    status              TEXT   NOT NULL,
    cache               TEXT   NOT NULL,
    fallback            BIGINT NOT NULL
);
CREATE INDEX usage_records_created_at ON usage_records (created_at);
CREATE INDEX usage_records_key ON usage_records (key_id, created_at);
