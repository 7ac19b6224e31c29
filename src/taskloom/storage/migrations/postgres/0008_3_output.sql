-- Streamed output of runs (issue 16): chunks in order, offsets in characters of the run's text.
-- output_length / output_bytes on the run keep the next offset and the 10 MB limit without a sum.
ALTER TABLE runs ADD COLUMN output_length BIGINT NOT NULL DEFAULT 0;
ALTER TABLE runs ADD COLUMN output_bytes BIGINT NOT NULL DEFAULT 0;

CREATE TABLE run_output (
    run_id TEXT NOT NULL REFERENCES runs(id) ON DELETE CASCADE,
    start_offset BIGINT NOT NULL,
    length BIGINT NOT NULL,
    chunk TEXT NOT NULL,
    created_at DOUBLE PRECISION NOT NULL,
    PRIMARY KEY (run_id, start_offset)
);
