//! eventgate-sse (work in progress).
