//! clap definitions; one file per command.
