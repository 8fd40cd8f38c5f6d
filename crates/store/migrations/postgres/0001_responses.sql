-- v1: stored Responses and their items (issue 13). Times are Unix seconds; JSON is jsonb.
CREATE TABLE responses (
    id                   TEXT   PRIMARY KEY,
    owner                TEXT   NOT NULL,
    created_at           BIGINT NOT NULL,
    expires_at           BIGINT,
    model                TEXT   NOT NULL,
    previous_response_id TEXT,
    instructions         TEXT,
    input_items          JSONB  NOT NULL,
    output_items         JSONB  NOT NULL,
    usage                JSONB,
    status               TEXT   NOT NULL,
    size_bytes           BIGINT NOT NULL
);
CREATE INDEX responses_owner ON responses (owner, id);
CREATE INDEX responses_expires_at ON responses (expires_at) WHERE expires_at IS NOT NULL;

-- One row per input or output item of a response, in order. An item id is not unique across
-- responses (a client re-sends history with its ids), so the key is the response and position.
CREATE TABLE items (
    response_id TEXT   NOT NULL REFERENCES responses (id) ON DELETE CASCADE,
    position    BIGINT NOT NULL,
    id          TEXT   NOT NULL,
    owner       TEXT   NOT NULL,
    kind        TEXT   NOT NULL CHECK (kind IN ('input', 'output')),
    json        JSONB  NOT NULL,
    PRIMARY KEY (response_id, position)
);
CREATE INDEX items_owner_id ON items (owner, id);
