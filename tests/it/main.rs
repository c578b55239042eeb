//! The one integration-test binary (heavy dependencies link once): a module per area.

mod cli;
mod harness;
mod render;
mod validate;
