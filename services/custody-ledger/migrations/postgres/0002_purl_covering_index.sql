-- "Images containing purl X" answered from indexes alone (issue 4, PostgreSQL). Forward-only.
-- The package lookup used to find rows by (purl_type, name, namespace, version) and then
-- fetch every matching heap row for its layer, image, entry and purl; at 1M component rows
-- that is hundreds of random heap reads per answer. This index carries those columns
-- (INCLUDE: not part of the search key), so the lookup can be an index-only scan, as can the
-- join to image_layers on its primary key. It replaces components_by_name, whose columns are
-- its key. (Index-only scans need the visibility map, which autovacuum keeps current on
-- insert-only tables.)
CREATE INDEX components_by_package
    ON components (purl_type, name, namespace, version) INCLUDE (layer, image, entry_idx, purl);
DROP INDEX components_by_name;
