//! What `kubectl ai deploy` and `undeploy` are made of (the command itself is
//! [`crate::commands::deploy`]): the bundled todo app's values and objects, the survey of the
//! cluster it lands on, image checks and builds, and the health checks after applying.

pub mod app;
pub(crate) mod build;
pub(crate) mod images;
pub(crate) mod monitoring;
pub(crate) mod registry;
pub mod survey;
pub mod verify;
pub mod words;
