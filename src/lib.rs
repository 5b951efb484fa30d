//! `api-key-rotator`: an AWS Secrets Manager rotation Lambda for vendor API keys whose vendors
//! generate the new key themselves and invalidate the old one at once.

pub mod cli;
pub mod config;
pub mod error;
pub mod event;
pub mod function;
#[cfg(test)]
mod golden;
pub mod logging;
pub mod metrics;
pub mod notify;
pub mod ops;
pub mod rotation;
pub mod schedule;
pub mod secret;
pub mod sensitive;
pub mod store;
pub mod timing;
pub mod vendors;

pub use rotation::{Error, ErrorKind};
pub use rotation::{Outcome, Rotator};
