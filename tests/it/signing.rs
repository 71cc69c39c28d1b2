//! Signing and verifying through the CLI: the user scenarios 1 and 6.
