//! The one integration-test binary: every module links into it, so the suite builds once.

mod cli;
mod harness;
mod hostile;
mod interop;
