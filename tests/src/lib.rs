//! Helpers for end-to-end tests against a real fleet. (being written)
