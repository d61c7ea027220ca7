-- The custody ledger's schema on SQLite. Forward-only: change it with a new numbered file.
-- Hashes and key material are raw bytes; digests and key IDs are their text forms so that
-- auditors can read them with the sqlite3 shell. Times are Unix milliseconds (UTC).

-- The log's identity: one row, written on first start. The private key lives here so that
-- every process sharing the database signs checkpoints with the same key (C2SP note signer
-- form PRIVATE+KEY+origin+keyid+seed). Whoever can read this table can sign checkpoints.
CREATE TABLE log_config (
    id              INTEGER PRIMARY KEY CHECK (id = 1),
    origin          TEXT    NOT NULL,
    private_key     TEXT    NOT NULL,
    public_key_pem  TEXT    NOT NULL,
    created_at      INTEGER NOT NULL
);

-- The sequencer's lock and the current tree head: one row, updated in every append
-- transaction (SQLite serialises writers with BEGIN IMMEDIATE).
CREATE TABLE tree_head (
    id         INTEGER PRIMARY KEY CHECK (id = 1),
    tree_size  INTEGER NOT NULL CHECK (tree_size >= 0),
    root_hash  BLOB    NOT NULL,
    updated_at INTEGER NOT NULL
);

-- One row per leaf. idx is the leaf index; canonical is the leaf data itself.
CREATE TABLE entries (
    idx            INTEGER PRIMARY KEY CHECK (idx >= 0),
    leaf_hash      BLOB    NOT NULL UNIQUE,
    canonical      BLOB    NOT NULL,
    payload_type   TEXT    NOT NULL,
    predicate_type TEXT    NOT NULL,
    kind           TEXT    NOT NULL,
    integrated_at  INTEGER NOT NULL
);
CREATE INDEX entries_by_predicate ON entries (predicate_type, idx);
CREATE INDEX entries_by_time ON entries (integrated_at, idx);

-- Who signed each entry (only registered keys get here), with the role at signing time.
CREATE TABLE entry_signers (
    key_id    TEXT    NOT NULL,
    entry_idx INTEGER NOT NULL REFERENCES entries (idx),
    role      TEXT    NOT NULL,
    PRIMARY KEY (key_id, entry_idx)
) WITHOUT ROWID;
CREATE INDEX entry_signers_by_entry ON entry_signers (entry_idx);

-- The in-toto subjects of each entry.
CREATE TABLE entry_subjects (
    digest    TEXT    NOT NULL,
    entry_idx INTEGER NOT NULL REFERENCES entries (idx),
    name      TEXT    NOT NULL,
    PRIMARY KEY (digest, entry_idx)
) WITHOUT ROWID;
CREATE INDEX entry_subjects_by_entry ON entry_subjects (entry_idx);

-- Perfect subtrees of the Merkle tree, (level, index); level 0 holds the leaf hashes.
CREATE TABLE nodes (
    level INTEGER NOT NULL,
    idx   INTEGER NOT NULL,
    hash  BLOB    NOT NULL,
    PRIMARY KEY (level, idx)
) WITHOUT ROWID;

-- Every checkpoint handed out (one per tree size: ed25519 signatures are deterministic).
CREATE TABLE checkpoints (
    tree_size  INTEGER PRIMARY KEY,
    root_hash  BLOB    NOT NULL,
    note       TEXT    NOT NULL,
    created_at INTEGER NOT NULL
);

-- Keys allowed to write, with their role.
CREATE TABLE signers (
    key_id         TEXT    PRIMARY KEY,
    role           TEXT    NOT NULL,
    algorithm      TEXT    NOT NULL,
    public_key_pem TEXT    NOT NULL,
    comment        TEXT    NOT NULL DEFAULT '',
    created_at     INTEGER NOT NULL
);

-- Bearer tokens; only the SHA-256 of each token is stored.
CREATE TABLE tokens (
    id         INTEGER PRIMARY KEY AUTOINCREMENT,
    token_hash BLOB    NOT NULL UNIQUE,
    role       TEXT    NOT NULL,
    comment    TEXT    NOT NULL DEFAULT '',
    created_at INTEGER NOT NULL
);

-- Content-addressed blobs (SBOMs), stored once whatever the number of entries naming them,
-- in chunks so that reading and writing them streams.
CREATE TABLE blobs (
    digest     TEXT    PRIMARY KEY,
    size       INTEGER NOT NULL,
    media_type TEXT    NOT NULL,
    created_at INTEGER NOT NULL
);
CREATE TABLE blob_chunks (
    digest TEXT    NOT NULL REFERENCES blobs (digest),
    seq    INTEGER NOT NULL,
    data   BLOB    NOT NULL,
    PRIMARY KEY (digest, seq)
) WITHOUT ROWID;

-- Blobs an entry references (an embedded SBOM, or one named by digest).
CREATE TABLE entry_blobs (
    entry_idx INTEGER NOT NULL REFERENCES entries (idx),
    digest    TEXT    NOT NULL,
    relation  TEXT    NOT NULL,
    PRIMARY KEY (entry_idx, digest)
) WITHOUT ROWID;
CREATE INDEX entry_blobs_by_digest ON entry_blobs (digest);

-- SBOM components, indexed at write time. layer is a DiffID, image a manifest digest;
-- either may be empty when the SBOM does not say.
CREATE TABLE components (
    id        INTEGER PRIMARY KEY,
    entry_idx INTEGER NOT NULL REFERENCES entries (idx),
    purl      TEXT    NOT NULL,
    purl_type TEXT    NOT NULL,
    namespace TEXT    NOT NULL,
    name      TEXT    NOT NULL,
    version   TEXT    NOT NULL,
    layer     TEXT    NOT NULL,
    image     TEXT    NOT NULL
);
CREATE INDEX components_by_purl ON components (purl, entry_idx);
CREATE INDEX components_by_name ON components (purl_type, name, namespace, version);
CREATE INDEX components_by_entry ON components (entry_idx);

-- An image's layers as its build provenance lists them (position = index in rootfs).
CREATE TABLE image_layers (
    diff_id   TEXT    NOT NULL,
    image     TEXT    NOT NULL,
    position  INTEGER NOT NULL,
    entry_idx INTEGER NOT NULL REFERENCES entries (idx),
    PRIMARY KEY (diff_id, image, position, entry_idx)
) WITHOUT ROWID;
CREATE INDEX image_layers_by_image ON image_layers (image, position);

-- An image's base image, from the provenance's resolvedDependencies.
CREATE TABLE image_bases (
    image      TEXT    NOT NULL,
    base_image TEXT    NOT NULL,
    entry_idx  INTEGER NOT NULL REFERENCES entries (idx),
    PRIMARY KEY (image, base_image, entry_idx)
) WITHOUT ROWID;
