//! Unit tests of the packing list and bundle manifest checks.
