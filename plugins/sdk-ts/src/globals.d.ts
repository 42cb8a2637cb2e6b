// The globals a plugin has besides ES2023's, as the SDK's prelude (src/index.ts) installs them:
// `console.*` writes to the behaviour's log, `performance.now()` reads the host's clock.
declare var console: {
  log(...args: unknown[]): void;
  info(...args: unknown[]): void;
  debug(...args: unknown[]): void;
  warn(...args: unknown[]): void;
  error(...args: unknown[]): void;
};
declare var performance: { now(): number };
