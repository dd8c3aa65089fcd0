//! parex-host placeholder.
