-- A datapoint's public id is now derived from its row id ("dp_" and the id in decimal) instead of
-- stored: the random 16-character column and its unique index cost about 70 of the 256 bytes each
-- reading took, and every insert landed at a random place of that index, which made ingest slower
-- the more was stored. Ids handed out before this migration (dp_ and 16 random characters) no longer
-- name anything: GET and DELETE /api/v1/datapoints/{id} answer 404 for them.

ALTER TABLE datapoints DROP COLUMN public_id;
