-- Migration 400: the audit trail (audit/, docs/audit.md).
--
-- audit_records is append-only: a record is never updated, except that erasing a token
-- replaces its token_id and body by "redacted:<sha256 hex>" of what they held; the record's
-- hash commits to those digests, so the chain still verifies. `body` is the canonical JSON
-- text that was hashed (VARCHAR, not JSON: its bytes must not change).

CREATE TABLE audit_records (
    seq UBIGINT PRIMARY KEY,           -- 1, 2, 3, ... without gaps
    at_ns BIGINT NOT NULL,             -- unix nanoseconds, when it was recorded ("at")
    kind VARCHAR NOT NULL,             -- what happened: token.first_use, finding.opened, ...
    token_id VARCHAR,                  -- the token it is about (or its redacted digest)
    body VARCHAR NOT NULL,             -- canonical JSON of the facts (or its redacted digest)
    prev_hash VARCHAR NOT NULL,        -- the previous record's hash (64 zeros for seq 1)
    hash VARCHAR NOT NULL              -- SHA-256 of the record's canonical encoding, hex
);

-- A signed statement "the chain up to seq has this hash", Ed25519.
CREATE TABLE audit_checkpoints (
    seq UBIGINT PRIMARY KEY,           -- the last record it covers
    hash VARCHAR NOT NULL,             -- that record's hash
    at_ns BIGINT NOT NULL,             -- unix nanoseconds, when it was signed ("at")
    public_key VARCHAR NOT NULL,       -- the signer's raw Ed25519 public key, hex
    signature VARCHAR NOT NULL         -- Ed25519 signature of the checkpoint message, hex
);

-- The audit follower's watermarks over what the other stages derive.
CREATE TABLE audit_state (
    name VARCHAR PRIMARY KEY,          -- tokens | lifecycle | findings
    position UBIGINT NOT NULL          -- token_dim.token_number | spans.batch_id | findings.id
);
INSERT INTO audit_state VALUES ('tokens', 0), ('lifecycle', 0), ('findings', 0);
