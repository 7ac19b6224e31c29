"""Pure domain rules: states, priorities, retry arithmetic, errors. No I/O here."""
