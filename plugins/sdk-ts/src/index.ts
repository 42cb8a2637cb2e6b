// vigil-sdk for TypeScript: the helper layer over the generated `vigil:host` bindings
// (types/, from plugins/wit/). Import it as "vigil":
//
//   import { behaviour, every, sendText } from "vigil";
//   export const plugin = behaviour({
//     init() { every("55m..65m", "tick", "1m..10m"); },
//     timers: { tick() { /* ... */ } },
//   });
//
// - Host calls that fail throw a `HostError` (`kind`, `message`), as the Rust SDK returns one.
// - Values that cross as JSON in WIT (config, kv, event data, template vars) are plain JS values
//   here: the layer does the JSON.
// - Importing it installs the engine's clock, randomness and console on the host's: `Date.now()`,
//   `new Date()`, `performance.now()` read the host clock (paused in `vigil test`), `Math.random()`
//   draws from the behaviour's RNG (seeded when `seed` is set), `console.*` writes to the
//   behaviour's log. The plugin imports nothing but `vigil:host`: no files, network or
//   environment exist for it.

import * as alertsHost from 'vigil:host/alerts@0.1.0';
import * as clockHost from 'vigil:host/clock@0.1.0';
import * as configHost from 'vigil:host/config@0.1.0';
import * as emailHost from 'vigil:host/email@0.1.0';
import * as eventsHost from 'vigil:host/events@0.1.0';
import * as hostHost from 'vigil:host/host@0.1.0';
import * as kvHost from 'vigil:host/kv@0.1.0';
import * as logHost from 'vigil:host/log@0.1.0';
import * as sessionsHost from 'vigil:host/sessions@0.1.0';
import * as triggersHost from 'vigil:host/triggers@0.1.0';
import type { TimerFire, Event as HostEvent } from 'vigil:host/plugin@0.1.0';
import type { Session } from 'vigil:host/sessions@0.1.0';
import type { ErrorKind } from 'vigil:host/types@0.1.0';

export type { TimerFire, Session, ErrorKind };

/** A host call that failed: `kind` says why, `message` names the behaviour and the call. */
export class HostError extends Error {
  kind: ErrorKind;
  constructor(kind: ErrorKind, message: string) {
    super(message);
    this.name = 'HostError';
    this.kind = kind;
  }
}

function isHostError(e: unknown): e is { kind: ErrorKind; message: string } {
  return typeof e === 'object' && e !== null && 'kind' in e && 'message' in e;
}

/** Runs a host call, turning the WIT `error` it throws into a `HostError`. */
function call<T>(f: () => T): T {
  try {
    return f();
  } catch (e) {
    const payload = typeof e === 'object' && e !== null && 'payload' in e ? (e as { payload: unknown }).payload : e;
    if (isHostError(payload)) throw new HostError(payload.kind, payload.message);
    throw e;
  }
}

function parse<T>(text: string | null): T | undefined {
  return text === null || text === undefined ? undefined : (JSON.parse(text) as T);
}

// ---- log ------------------------------------------------------------------------------------

/** Writes `message` to the host's log, tagged with the behaviour's name, at `info`. */
export function log(message: string): void {
  logHost.log('info', message);
}
export function debug(message: string): void {
  logHost.log('debug', message);
}
export function info(message: string): void {
  logHost.log('info', message);
}
export function warn(message: string): void {
  logHost.log('warn', message);
}
export function error(message: string): void {
  logHost.log('error', message);
}

// ---- clock ----------------------------------------------------------------------------------

/** Now, as Unix seconds (the host's clock). */
export function now(): number {
  return clockHost.now();
}
/** Now, as Unix milliseconds (the host's clock). */
export function nowMs(): number {
  return clockHost.nowMs();
}
/** The seconds in a humane duration (`"30s"`, `"1h30m"`); throws `HostError` on bad text. */
export function duration(text: string): number {
  return call(() => clockHost.duration(text));
}
/** A uniform integer in `[min, max]` from the behaviour's RNG. */
export function random(min: number, max: number): number {
  return call(() => clockHost.random(min, max));
}
/** A uniformly chosen element of `items`, `undefined` when empty. */
export function pick<T extends string>(items: readonly T[]): T | undefined {
  const got = clockHost.pick([...items]);
  return got === null || got === undefined ? undefined : (got as T);
}

// ---- config, kv, events ---------------------------------------------------------------------

/** The parameter `key` from `[behaviours.<name>.params]`, or `undefined` when unset. */
export function config<T = unknown>(key: string): T | undefined {
  return parse<T>(configHost.config(key));
}
/** The value stored under `key` in the behaviour's kv, or `undefined`. */
export function kvGet<T = unknown>(key: string): T | undefined {
  return parse<T>(call(() => kvHost.kvGet(key)));
}
/** Stores `value` (anything JSON can hold) under `key`. */
export function kvSet(key: string, value: unknown): void {
  call(() => kvHost.kvSet(key, JSON.stringify(value)));
}
/** Removes `key`; `true` if it existed. */
export function kvDelete(key: string): boolean {
  return call(() => kvHost.kvDelete(key));
}
/** Publishes `event` with `data` (an object) as coming from this behaviour. */
export function emit(event: string, data: Record<string, unknown> = {}): void {
  call(() => eventsHost.emit(event, JSON.stringify(data)));
}

// ---- triggers -------------------------------------------------------------------------------

/** A jittered interval (`"55m..65m"`, `"1h"`); the first fire after `first` when given. */
export function every(spec: string, handler: string, first?: string): void {
  call(() => triggersHost.every(spec, handler, first ?? null));
}
/** A cron expression in timezone `tz` (default the host's); `missed`: `"skip"` or `"run_once"`. */
export function cron(expr: string, handler: string, opts: { tz?: string; missed?: 'skip' | 'run_once' } = {}): void {
  call(() => triggersHost.cron(expr, handler, opts.tz ?? null, opts.missed ?? null));
}
/** Fires `handler` once, `delay` (`"5m"`) from now. */
export function after(delay: string, handler: string): void {
  call(() => triggersHost.after(delay, handler));
}
/** Runs `handler` for every event matching `pattern` (`session.ready`, `session.*`, `*`). */
export function on(pattern: string, handler: string): void {
  call(() => triggersHost.on(pattern, handler));
}

// ---- sessions -------------------------------------------------------------------------------

/** Every session. Needs `sessions.read`. */
export function sessions(): Session[] {
  return call(() => sessionsHost.sessions());
}
/** WhatsApp's state (`CONNECTED`, …), waiting at most `timeout` (default `"5s"`). */
export function state(id: string, timeout?: string): string {
  return call(() => sessionsHost.state(id, timeout ?? null));
}
/** A round trip into the page, in milliseconds. Needs `sessions.read`. */
export function ping(id: string, timeout?: string): number {
  return call(() => sessionsHost.ping(id, timeout ?? null));
}
/** Sends `text` to `to` from session `id`; returns the message id. Needs `sessions.send`. */
export function sendText(id: string, to: string, text: string, key?: string): string {
  return call(() => sessionsHost.sendText(id, to, text, key ?? null));
}
/** A small real mouse movement in the page. Needs `sessions.control`. */
export function activity(id: string): void {
  call(() => sessionsHost.activity(id));
}
/** Restarts the session's browser. Needs `sessions.control`. */
export function restart(id: string, reason: string): void {
  call(() => sessionsHost.restart(id, reason));
}
/** Sets the session's status. Needs `sessions.control`. */
export function mark(id: string, status: string, reason: string): void {
  call(() => sessionsHost.mark(id, status, reason));
}
/** Records that the session was seen alive now. Needs `sessions.control`. */
export function touch(id: string): void {
  call(() => sessionsHost.touch(id));
}
/** Backs up the session's profile; returns the backup's name. Needs `sessions.control`. */
export function backup(id: string): string {
  return call(() => sessionsHost.backup(id));
}
/** Removes session folders no session owns, older than `minAge`. Needs `sessions.control`. */
export function removeOrphanFolders(minAge: string): string[] {
  return call(() => sessionsHost.removeOrphanFolders(minAge));
}

// ---- alerts, email, host --------------------------------------------------------------------

/** Raises alert `key` (see plugins/wit/alerts.wit); returns `"queued"` or `"deduplicated"`. */
export function raise(
  key: string,
  severity: 'info' | 'warning' | 'critical',
  template: string,
  vars: Record<string, unknown>,
  repeatAfter: string,
): string {
  return call(() => alertsHost.raise(key, severity, template, JSON.stringify(vars), repeatAfter));
}
/** Marks alert `key` resolved; `true` when a "resolved" notice was queued. */
export function resolve(key: string): boolean {
  return call(() => alertsHost.resolve(key));
}
/** Queues template `template` with `vars` to `to` (empty: the `[alerts] to` recipients). */
export function email(to: string, template: string, vars: Record<string, unknown>): number {
  return call(() => emailHost.email(to, template, JSON.stringify(vars)));
}
/** The host's health. Needs `host`. */
export function health(): Record<string, unknown> {
  return JSON.parse(call(() => hostHost.health()));
}
/** Deletes stored events older than `olderThan`; returns how many. Needs `host`. */
export function pruneEvents(olderThan: string): number {
  return call(() => hostHost.pruneEvents(olderThan));
}

// ---- the plugin -----------------------------------------------------------------------------

/** An event as a handler gets it: `data` already parsed. */
export interface Event {
  event: string;
  source: string;
  at: number;
  data: Record<string, unknown>;
}

/** What `behaviour` builds the plugin from. */
export interface Behaviour {
  /** Registers the triggers (`every`, `cron`, `on` work only here). */
  init?: () => void;
  /** Timer handlers by the name given to `every`, `cron` or `after`. */
  timers?: Record<string, (fire: TimerFire) => void>;
  /** Event handlers by the name given to `on`. */
  events?: Record<string, (event: Event) => void>;
}

/** The text a failed handler reports: an Error's message, or the thrown value. */
function reason(e: unknown): string {
  if (e instanceof Error) return e.message || e.name;
  return typeof e === 'string' ? e : JSON.stringify(e) ?? String(e);
}

function guard(f: () => void): void {
  try {
    f();
  } catch (e) {
    throw reason(e); // a thrown string is the export's `err`
  }
}

function noHandler(kind: string, handler: string): string {
  return `no ${kind} handler \`${handler}\` in this plugin (the name given to the trigger must be a key of \`${kind}s\` in behaviour({...}))`;
}

/** The `plugin` export: `export const plugin = behaviour({ init, timers, events })`. */
export function behaviour(b: Behaviour) {
  return {
    init(): void {
      guard(() => b.init?.());
    },
    onTimer(handler: string, fire: TimerFire): void {
      const h = b.timers?.[handler];
      if (!h) throw noHandler('timer', handler);
      guard(() => h(fire));
    },
    onEvent(handler: string, event: HostEvent): void {
      const h = b.events?.[handler];
      if (!h) throw noHandler('event', handler);
      guard(() => h({ ...event, data: JSON.parse(event.data) }));
    },
  };
}

// ---- the engine's clock, randomness and console, from the host ------------------------------

function format(args: unknown[]): string {
  return args
    .map((a) => (typeof a === 'string' ? a : a instanceof Error ? `${a.name}: ${a.message}` : JSON.stringify(a) ?? String(a)))
    .join(' ');
}

const HostDate = (() => {
  const Base = Date;
  // `new Date()` and `Date()` with no argument read the host's clock; everything else is Date's.
  function D(this: unknown, ...args: unknown[]) {
    const d = args.length === 0 ? new Base(clockHost.nowMs()) : new (Base as any)(...args);
    if (!new.target) return d.toString();
    Object.setPrototypeOf(d, new.target.prototype);
    return d;
  }
  Object.setPrototypeOf(D, Base);
  D.prototype = Base.prototype;
  (D as any).now = () => clockHost.nowMs();
  return D as unknown as DateConstructor;
})();

const g = globalThis as any;
g.Date = HostDate;
// Math.random: 53 random bits from the behaviour's RNG, as a float in [0, 1).
Math.random = () => clockHost.random(0, 2 ** 53 - 1) / 2 ** 53;
// performance.now(): milliseconds since the first call (the module's top level runs when the
// plugin is built, where there is no host to ask).
let origin: number | undefined;
g.performance = {
  now: () => {
    const t = clockHost.nowMs();
    origin ??= t;
    return t - origin;
  },
};
g.console = {
  log: (...a: unknown[]) => logHost.log('info', format(a)),
  info: (...a: unknown[]) => logHost.log('info', format(a)),
  debug: (...a: unknown[]) => logHost.log('debug', format(a)),
  warn: (...a: unknown[]) => logHost.log('warn', format(a)),
  error: (...a: unknown[]) => logHost.log('error', format(a)),
};
