//! Crashes of a session's Chromium: detection, restarts, the budget, no leftovers.
