//! What `kubectl ai "create ..."` needs besides the model (the command itself is
//! [`crate::commands::generate`]): the cluster's OpenAPI schemas to check manifests against.

pub(crate) mod openapi;
