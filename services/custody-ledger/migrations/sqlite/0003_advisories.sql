-- Advisories and re-evaluation without rescanning (issue 6), SQLite. Forward-only.
-- Times are Unix milliseconds (UTC), like every other table.

-- What custody-vuln matches a recorded component on (`custody_vuln::target`): the ecosystem
-- (OSV name: Debian, PyPI, npm, ...), the distribution release ('' when none), the
-- normalised package name (for a Debian or Alpine binary package: its SOURCE package, which
-- is what their advisories name) and the version compared (a distribution package's source
-- version). Computed from the stored SBOM of the row's entry (its component properties and
-- purl) by the ledger's keyer, outside the append transaction, so ingest does not pay for it:
--   vuln_ecosystem NULL: not keyed yet (just recorded, or recorded before this migration);
--     every import and affected-query keys pending rows first, a serving ledger every few
--     seconds;
--   vuln_ecosystem '': not evaluable (no purl, an ecosystem custody does not evaluate, ...),
--     the reason in vuln_note;
--   vuln_note non-empty with an ecosystem: the key is known but the version does not parse,
--     so every advisory for that package reports the component as unevaluated.
ALTER TABLE components ADD COLUMN vuln_ecosystem TEXT;
ALTER TABLE components ADD COLUMN vuln_release TEXT NOT NULL DEFAULT '';
ALTER TABLE components ADD COLUMN vuln_name TEXT NOT NULL DEFAULT '';
ALTER TABLE components ADD COLUMN vuln_version TEXT NOT NULL DEFAULT '';
ALTER TABLE components ADD COLUMN vuln_note TEXT NOT NULL DEFAULT '';
-- Candidates of an advisory by package key; the layer makes the join to image_layers
-- index-only.
CREATE INDEX components_by_vuln_key
    ON components (vuln_ecosystem, vuln_name, vuln_release, vuln_version, layer);
-- The few rows still to be keyed (empty once every row is).
CREATE INDEX components_vuln_pending ON components (entry_idx, id) WHERE vuln_ecosystem IS NULL;

-- One row per import (CLI or REST), with its report (JSON).
CREATE TABLE advisory_imports (
    id         INTEGER PRIMARY KEY,
    started_at INTEGER NOT NULL,
    source     TEXT    NOT NULL,
    report     TEXT    NOT NULL DEFAULT '{}'
);

-- The newest version of each OSV record ever imported (withdrawn ones too: a withdrawal is
-- kept, and never matches). `record` is the record's JSON as imported; custody-vuln parses it
-- again to evaluate. imported_at is when THIS version (modified) was stored.
CREATE TABLE advisories (
    id                TEXT    PRIMARY KEY,
    modified          INTEGER NOT NULL,
    published         INTEGER,
    withdrawn         INTEGER,
    summary           TEXT    NOT NULL DEFAULT '',
    aliases           TEXT    NOT NULL DEFAULT '[]',
    evaluable         INTEGER NOT NULL,
    record_sha256     TEXT    NOT NULL,
    record            BLOB    NOT NULL,
    source            TEXT    NOT NULL,
    first_imported_at INTEGER NOT NULL,
    imported_at       INTEGER NOT NULL,
    import_id         INTEGER NOT NULL REFERENCES advisory_imports (id)
);
CREATE INDEX advisories_by_imported ON advisories (imported_at, id);

-- The package keys each stored advisory touches (custody_vuln::Advisory::package_keys):
-- release '' = every release of the distribution.
CREATE TABLE advisory_packages (
    advisory_id TEXT NOT NULL REFERENCES advisories (id),
    ecosystem   TEXT NOT NULL,
    release     TEXT NOT NULL,
    name        TEXT NOT NULL,
    PRIMARY KEY (advisory_id, ecosystem, release, name)
);
CREATE INDEX advisory_packages_by_key ON advisory_packages (ecosystem, name, release);

-- What an import found: for each advisory it stored (new, or a newer version), each recorded
-- component key and version it affects (affected = TRUE, with the fixed version and
-- severity) or could not decide (FALSE, the reason in detail).
CREATE TABLE advisory_hits (
    import_id   INTEGER NOT NULL REFERENCES advisory_imports (id),
    advisory_id TEXT    NOT NULL,
    ecosystem   TEXT    NOT NULL,
    release     TEXT    NOT NULL,
    name        TEXT    NOT NULL,
    version     TEXT    NOT NULL,
    affected    INTEGER NOT NULL,
    fixed       TEXT    NOT NULL DEFAULT '',
    severity    TEXT    NOT NULL DEFAULT '',
    detail      TEXT    NOT NULL DEFAULT '',
    PRIMARY KEY (import_id, advisory_id, ecosystem, release, name, version)
);

-- The (advisory, image) pairs owners were told about. An import notifies only the pairs it
-- adds here, so importing the same records again notifies nobody.
CREATE TABLE advisory_notices (
    advisory_id TEXT   NOT NULL,
    image       TEXT   NOT NULL,
    import_id   INTEGER NOT NULL REFERENCES advisory_imports (id),
    created_at  INTEGER NOT NULL,
    PRIMARY KEY (advisory_id, image)
);
CREATE INDEX advisory_notices_by_import ON advisory_notices (import_id, image);

-- Outbox: the messages an import decided to send, written in its transaction and delivered
-- after it committed (so a crash between the two loses nothing: pending rows are sent on the
-- next start or import). channel: webhook | email; target: URL or address; owner '' = none.
CREATE TABLE notifications (
    id         INTEGER PRIMARY KEY,
    import_id  INTEGER NOT NULL REFERENCES advisory_imports (id),
    channel    TEXT    NOT NULL,
    target     TEXT    NOT NULL,
    owner      TEXT    NOT NULL,
    subject    TEXT    NOT NULL,
    body       TEXT    NOT NULL,
    status     TEXT    NOT NULL,
    attempts   INTEGER NOT NULL DEFAULT 0,
    last_error TEXT    NOT NULL DEFAULT '',
    created_at INTEGER NOT NULL,
    updated_at INTEGER NOT NULL
);
CREATE INDEX notifications_by_status ON notifications (status, id);

-- Who answers for what a signer key signs: an image's owners are the owners of the keys
-- that signed its build provenance (see the README).
CREATE TABLE signer_owners (
    key_id     TEXT   PRIMARY KEY REFERENCES signers (key_id),
    owner      TEXT   NOT NULL,
    updated_at INTEGER NOT NULL
);
