-- A metric row with its compressed document is still over the TOAST threshold (2 KB), so
-- PostgreSQL also tries to compress the next largest values (the search vector, the search text,
-- the description), and with pglz that try cost 2.7 % of a bulk load's database time (perf,
-- `mdl seed`), mostly to keep values that do not shrink enough. lz4 tries several times faster.
-- Values already stored keep their form; a server built without lz4 keeps pglz.
DO $$
BEGIN
    ALTER TABLE metrics
        ALTER COLUMN search SET COMPRESSION lz4,
        ALTER COLUMN search_text SET COMPRESSION lz4,
        ALTER COLUMN description SET COMPRESSION lz4;
EXCEPTION WHEN feature_not_supported OR invalid_parameter_value THEN
    RAISE NOTICE 'lz4 is not available in this server: search columns stay compressed with pglz';
END
$$;
