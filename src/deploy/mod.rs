//! What `kubectl ai deploy` and `undeploy` are made of (the command itself is
//! [`crate::commands::deploy`]): the bundled todo app's values and objects, the survey of the
//! cluster it lands on, image checks and builds, and the health checks after applying.

pub(crate) mod app;
pub(crate) mod build;
pub(crate) mod images;
pub(crate) mod monitoring;
pub(crate) mod registry;
pub(crate) mod survey;
pub(crate) mod verify;
pub(crate) mod words;
