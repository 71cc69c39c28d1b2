//! The one integration-test binary: every module links into it, so the suite builds once.

mod cli;
mod cose;
mod harness;
mod hostile;
mod interop;
mod signing;
