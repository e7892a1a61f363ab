-- Where each message came from, for `hookstream trace`'s received line: the ingress request
-- that carried it and its `inbound` record. Facts stored before this migration read '' and -1.

ALTER TABLE {db}.messages ADD COLUMN IF NOT EXISTS request_id String DEFAULT '';
ALTER TABLE {db}.messages ADD COLUMN IF NOT EXISTS source_topic LowCardinality(String) DEFAULT '';
ALTER TABLE {db}.messages ADD COLUMN IF NOT EXISTS source_partition Int32 DEFAULT -1;
ALTER TABLE {db}.messages ADD COLUMN IF NOT EXISTS source_offset Int64 DEFAULT -1;
