//! The request path: route, authorize, attach, respond.

pub(crate) mod body;
pub(crate) mod errors;
