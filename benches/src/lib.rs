//! Shared helpers for the eventgate criterion suites (workload generators live here so
//! that every suite, and the peers it compares against, read exactly the same bytes).
