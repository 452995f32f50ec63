-- ktape catalog schema, version 3.
--
-- catalog.db indexes an archive directory's segment files by topic,
-- partition, offset and time, and records what every run did. It is an
-- index, not the only copy of the truth: every segment file describes
-- itself, and the metadata below that exists only at dump time (topic
-- configs, group offsets, watermarks) is also written to meta/*.ktm files,
-- so `ktape reindex` rebuilds this database from the directory alone.
--
-- The schema version is PRAGMA user_version (3). A catalog with a higher
-- version is refused; an older one is upgraded by the next writer and read
-- as it is by readers. Version 1 -> 2 adds the tables marked "version 2";
-- 2 -> 3 rebuilds `runs` (its kinds gained 'import'), adds the columns
-- marked "version 3" (NULL in old rows) and the tables after the
-- "Version 3." line. All times are milliseconds since the Unix epoch, UTC.
-- Offsets are Kafka offsets; ranges are inclusive unless a name says "end"
-- (exclusive).

-- Identity of the archive: archive_id, format_version, created_ms.
CREATE TABLE archive (
    key   TEXT PRIMARY KEY,
    value TEXT NOT NULL
);

-- One row per ktape invocation that changed the archive.
CREATE TABLE runs (
    run_id       INTEGER PRIMARY KEY,
    kind         TEXT NOT NULL CHECK (kind IN ('dump', 'restore', 'prune', 'reindex', 'import')),
    started_ms   INTEGER NOT NULL,
    ended_ms     INTEGER,
    status       TEXT NOT NULL
                 CHECK (status IN ('running', 'ok', 'failed', 'interrupted', 'data_lost', 'crashed')),
    args         TEXT NOT NULL,       -- the command line, secrets redacted
    tool_version TEXT NOT NULL,
    cluster_id   TEXT,                -- source cluster (dump) or target cluster (restore)
    bootstrap    TEXT,
    records      INTEGER NOT NULL DEFAULT 0,
    bytes        INTEGER NOT NULL DEFAULT 0,  -- compressed bytes written (dump) or payload bytes sent
    message      TEXT,                -- the error or warning summary
    selection    TEXT                 -- restore: the resolved selection (absolute times, targets);
                                      -- an interrupted run is continued only by the same one
);

-- Segment files (paths relative to the archive directory). A topic that was
-- deleted and recreated between dumps gets a new generation: its records
-- are never mixed with the old ones.
CREATE TABLE segments (
    segment_id   INTEGER PRIMARY KEY,
    path         TEXT NOT NULL UNIQUE,
    topic        TEXT NOT NULL,
    generation   INTEGER NOT NULL,
    partition    INTEGER NOT NULL,
    first_offset INTEGER NOT NULL,
    last_offset  INTEGER NOT NULL,
    min_ts       INTEGER NOT NULL,
    max_ts       INTEGER NOT NULL,
    records      INTEGER NOT NULL,
    file_bytes   INTEGER NOT NULL,
    raw_bytes    INTEGER NOT NULL,
    payload_bytes INTEGER NOT NULL,
    footer_crc   INTEGER NOT NULL,    -- CRC-32C of the footer frame: identifies the file's content
    block_count  INTEGER NOT NULL,
    run_id       INTEGER REFERENCES runs(run_id), -- NULL when found by recovery or reindex
    committed_ms INTEGER                -- version 3: when the catalog commit that recorded the
                                        -- file was made (a file that replaced others: the newest
                                        -- of theirs); NULL when not known (older rows, found by
                                        -- recovery, reindexed from a metadata 1.0/1.1 file)
);
CREATE INDEX segments_by_partition ON segments(topic, generation, partition, first_offset);

-- Every block of every segment. prefix_max_ts is the largest max_ts of this
-- block and all blocks before it in offset order within the partition: it
-- never decreases, so "the first block that can hold a timestamp >= T" is
-- one index lookup (blocks_by_time) even though timestamps need not grow.
CREATE TABLE blocks (
    segment_id    INTEGER NOT NULL REFERENCES segments(segment_id) ON DELETE CASCADE,
    block_index   INTEGER NOT NULL,
    topic         TEXT NOT NULL,
    generation    INTEGER NOT NULL,
    partition     INTEGER NOT NULL,
    pos           INTEGER NOT NULL,   -- file position of the block header frame
    first_offset  INTEGER NOT NULL,
    last_offset   INTEGER NOT NULL,
    min_ts        INTEGER NOT NULL,
    max_ts        INTEGER NOT NULL,
    prefix_max_ts INTEGER NOT NULL,
    records       INTEGER NOT NULL,
    compressed_bytes INTEGER NOT NULL,
    raw_bytes     INTEGER NOT NULL,
    PRIMARY KEY (segment_id, block_index)
) WITHOUT ROWID;
CREATE INDEX blocks_by_offset ON blocks(topic, generation, partition, last_offset);
CREATE INDEX blocks_by_time ON blocks(topic, generation, partition, prefix_max_ts, first_offset);

-- What each dump run saw and did per partition. end offsets are exclusive.
-- done_end is where the run got to: the next dump of the partition starts
-- there (or after the newest segment, whichever is later).
CREATE TABLE partition_runs (
    run_id         INTEGER NOT NULL REFERENCES runs(run_id),
    topic          TEXT NOT NULL,
    generation     INTEGER NOT NULL,
    partition      INTEGER NOT NULL,
    log_start      INTEGER NOT NULL,  -- low watermark at the start of the run
    high_watermark INTEGER NOT NULL,  -- high watermark at the start of the run
    from_offset    INTEGER NOT NULL,  -- first offset the run asked for
    to_end         INTEGER NOT NULL,  -- the run's target end (exclusive)
    done_end       INTEGER NOT NULL,  -- archived up to here (exclusive)
    records        INTEGER NOT NULL DEFAULT 0,
    lost_from      INTEGER,           -- records lost to retention before they were dumped
    lost_end       INTEGER,
    PRIMARY KEY (run_id, topic, generation, partition)
);

-- Topic generations: a new one starts when a topic is found recreated.
CREATE TABLE topic_generations (
    topic       TEXT NOT NULL,
    generation  INTEGER NOT NULL,
    first_run   INTEGER REFERENCES runs(run_id),
    reason      TEXT,
    PRIMARY KEY (topic, generation)
);

-- Topic metadata as seen by a dump run.
CREATE TABLE topic_snapshots (
    run_id             INTEGER NOT NULL REFERENCES runs(run_id),
    topic              TEXT NOT NULL,
    generation         INTEGER NOT NULL,
    partitions         INTEGER NOT NULL,
    replication_factor INTEGER NOT NULL,
    PRIMARY KEY (run_id, topic)
);

-- Non-default topic configs at dump time. Sensitive values are never stored.
CREATE TABLE topic_configs (
    run_id INTEGER NOT NULL REFERENCES runs(run_id),
    topic  TEXT NOT NULL,
    name   TEXT NOT NULL,
    value  TEXT,
    source TEXT NOT NULL,
    PRIMARY KEY (run_id, topic, name)
);

-- Committed consumer group offsets at dump time: the run's latest capture
-- (a following dump replaces its rows at each capture; every capture is in
-- group_snapshots).
CREATE TABLE group_offsets (
    run_id    INTEGER NOT NULL REFERENCES runs(run_id),
    group_id  TEXT NOT NULL,
    topic     TEXT NOT NULL,
    generation INTEGER NOT NULL,
    partition INTEGER NOT NULL,
    committed_offset INTEGER NOT NULL,
    metadata  TEXT,
    PRIMARY KEY (run_id, group_id, topic, partition)
);

-- What a restore wrote: each row maps a run of consecutive archived records
-- of one source partition (src_first..src_last, records of them) to
-- consecutive target offsets dst_first..dst_first+records-1.
CREATE TABLE restore_maps (
    run_id         INTEGER NOT NULL REFERENCES runs(run_id),
    src_topic      TEXT NOT NULL,
    src_generation INTEGER NOT NULL,
    src_partition  INTEGER NOT NULL,
    dst_topic      TEXT NOT NULL,
    dst_partition  INTEGER NOT NULL,
    src_first      INTEGER NOT NULL,
    src_last       INTEGER NOT NULL,
    dst_first      INTEGER NOT NULL,
    records        INTEGER NOT NULL,
    PRIMARY KEY (run_id, src_topic, src_partition, dst_topic, dst_partition, src_first)
);

-- Where each target partition of a restore stood before the restore wrote to
-- it: after a crash, the records the target holds beyond this are the ones
-- already written (with --partitioning same and ktape as the only writer).
CREATE TABLE restore_bases (
    run_id        INTEGER NOT NULL REFERENCES runs(run_id),
    dst_topic     TEXT NOT NULL,
    dst_partition INTEGER NOT NULL,
    base_offset   INTEGER NOT NULL,
    PRIMARY KEY (run_id, dst_topic, dst_partition)
);

-- Version 2. The segments each run committed, as its metadata file lists
-- them (meta/*.ktm table 9). Filled by reindex: a claimed segment whose
-- file is gone is what turns a silent hole into a missing range.
CREATE TABLE run_segments (
    run_id       INTEGER NOT NULL REFERENCES runs(run_id),
    path         TEXT NOT NULL,
    topic        TEXT NOT NULL,
    generation   INTEGER NOT NULL,
    partition    INTEGER NOT NULL,
    first_offset INTEGER NOT NULL,
    last_offset  INTEGER NOT NULL,
    records      INTEGER NOT NULL,
    footer_crc   INTEGER NOT NULL,
    committed_ms INTEGER,             -- version 3: as in segments
    PRIMARY KEY (run_id, path)
);

-- Version 2. Offsets the archive held once and can no longer deliver: a
-- segment file that a run committed and that is gone, or the part of a
-- damaged file between its readable blocks. Computed by reindex and by a
-- writer's recovery from the files; never covered by partition progress.
CREATE TABLE missing_ranges (
    topic        TEXT NOT NULL,
    generation   INTEGER NOT NULL,
    partition    INTEGER NOT NULL,
    first_offset INTEGER NOT NULL,
    last_offset  INTEGER NOT NULL,  -- inclusive
    path         TEXT NOT NULL,     -- the segment file the offsets were in
    reason       TEXT NOT NULL,
    PRIMARY KEY (topic, generation, partition, first_offset, path)
);

-- Version 2. Segment files a prune run removed on purpose (meta/*.ktm
-- table 10): a claim in run_segments for such a path is not a hole.
CREATE TABLE pruned_segments (
    run_id INTEGER NOT NULL REFERENCES runs(run_id),
    path   TEXT NOT NULL,
    PRIMARY KEY (run_id, path)
);

-- Version 3. Every capture of consumer group offsets with its time: a
-- batch dump makes one, a following dump one every --groups-interval.
-- "The groups as of T" (restore --at, groups --at) is the newest capture
-- taken at or before T; a run without rows here (before version 3)
-- counts its group_offsets as taken at its started_ms.
CREATE TABLE group_snapshots (
    run_id    INTEGER NOT NULL REFERENCES runs(run_id),
    taken_ms  INTEGER NOT NULL,
    group_id  TEXT NOT NULL,
    topic     TEXT NOT NULL,
    generation INTEGER NOT NULL,
    partition INTEGER NOT NULL,
    committed_offset INTEGER NOT NULL,
    metadata  TEXT,
    PRIMARY KEY (run_id, taken_ms, group_id, topic, partition)
);
CREATE INDEX group_snapshots_by_time ON group_snapshots(taken_ms);
