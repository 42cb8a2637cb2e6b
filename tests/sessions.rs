//! Sessions without Chromium: ids, records, the CLI's refusals.
