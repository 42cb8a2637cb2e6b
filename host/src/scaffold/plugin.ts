// {{name}}: a vigil plugin in TypeScript, sandboxed as a WASM component. It may call the host
// API ("vigil", see plugins/sdk-ts/src/index.ts) and nothing else: no files, network or
// environment. Build it with ./build (gives {{name}}.wasm), try it on a paused clock with
//   vigil test {{name}}.wasm --for 6h
// then copy {{name}}.wasm into the host's plugins folder: it is loaded, and replaced live.
// Grants and parameters go in vigil.toml:
//   [behaviours.{{name}}]
//   grants = ["sessions.read"]        # what it may do besides log, kv, events and timers
//   [behaviours.{{name}}.params]
//   every = "30m"                     # read below with config("every")
//
// The module's top level runs when the plugin is built, not in the host: call host functions
// in init and in handlers only.
import { behaviour, config, emit, every, kvGet, kvSet, log, on } from 'vigil';

export const plugin = behaviour({
  // Runs once when the plugin is loaded: registers the triggers.
  init() {
    // Every 30 minutes (or the `every` parameter), the first time after 1–5 minutes.
    every(config<string>('every') ?? '30m', 'tick', '1m..5m');
    // React to sessions changing state: `session.ready`, `session.disconnected`, ...
    on('session.*', 'changed');
  },
  // Timer handlers, by the name given to `every`, `cron` or `after`.
  timers: {
    tick() {
      const n = (kvGet<number>('ticks') ?? 0) + 1;
      kvSet('ticks', n);
      log(`tick ${n}`);
      emit('{{name}}.tick', { n });
    },
  },
  // Event handlers, by the name given to `on`. A thrown error is the run's error.
  events: {
    changed(event) {
      log(`${event.event} from ${event.source}`);
    },
  },
});
