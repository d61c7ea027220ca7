-- "Images containing purl X" answered from indexes alone (issue 4, SQLite). Forward-only.
-- The package lookup used to find rows by (purl_type, name, namespace, version) and then
-- read every matching table row for its layer, image, entry and purl; at 1M component rows
-- that is hundreds of random row reads per answer. This index carries those columns, so the
-- lookup is index-only and the join to image_layers (a WITHOUT ROWID primary key on
-- diff_id) is too. It replaces components_by_name, whose columns are its prefix.
CREATE INDEX components_by_package
    ON components (purl_type, name, namespace, version, layer, image, entry_idx, purl);
DROP INDEX components_by_name;
