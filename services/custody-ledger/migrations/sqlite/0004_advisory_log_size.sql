-- Newly affected pairs without a row per (advisory, image) (issue 6). Forward-only.
--
-- An import now keeps the log size it evaluated against; with its affected hits that says
-- which images it found affected (see src/advisories/pairs.rs), so the pairs need not be
-- stored one by one: 1,000 advisories over 100,000 images on shared base layers made 3
-- million rows per import. advisory_notices is no longer written; the rows imports made
-- before this migration are still read, as what those imports told.
ALTER TABLE advisory_imports ADD COLUMN log_size BIGINT;
-- An advisory's earlier imports' hits, for a newer version of it.
CREATE INDEX advisory_hits_by_advisory ON advisory_hits (advisory_id, import_id);
-- The holders of the affected keys come from this index alone (layer, entry and image
-- included), however many rows a key has: no table read per component.
DROP INDEX components_by_vuln_key;
CREATE INDEX components_by_vuln_key
    ON components (vuln_ecosystem, vuln_name, vuln_release, vuln_version, layer, entry_idx, image);
