//! Shared fixtures for raftmasq's end-to-end tests.
