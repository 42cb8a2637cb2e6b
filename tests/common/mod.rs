//! Shared helpers for vigil integration tests.
