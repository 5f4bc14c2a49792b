//! STUB: locate a YAML path in source text (line and column) for error messages.
