//! The request path: route, authorize, attach, respond.

pub(crate) mod errors;
pub(crate) mod body;
