// Session-status reporter, in TypeScript: counts session state changes (events `session.*`)
// in kv, per event name, and every hour emits `session-status.summary` with the counts since
// the last summary, then starts counting again. Counts live in kv, so they survive reloads and
// restarts. The same behaviour as the Rust example (plugins/examples/session-status). Needs no
// grant.
import { behaviour, emit, every, kvGet, kvSet, now, on } from 'vigil';

const COUNTS = 'counts';
const SINCE = 'since';

type Counts = Record<string, number>;

export const plugin = behaviour({
  init() {
    on('session.*', 'changed');
    every('1h', 'summary');
  },
  events: {
    changed(event) {
      const counts = kvGet<Counts>(COUNTS) ?? {};
      counts[event.event] = (counts[event.event] ?? 0) + 1;
      kvSet(COUNTS, counts);
      if (kvGet<number>(SINCE) === undefined) kvSet(SINCE, now());
    },
  },
  timers: {
    summary(fire) {
      const counts = kvGet<Counts>(COUNTS) ?? {};
      const since = kvGet<number>(SINCE) ?? null;
      const total = Object.values(counts).reduce((a, b) => a + b, 0);
      // Sorted keys, as the Rust example's BTreeMap gives them.
      const sorted: Counts = {};
      for (const k of Object.keys(counts).sort()) sorted[k] = counts[k];
      emit('session-status.summary', { counts: sorted, total, since, until: fire.fired });
      kvSet(COUNTS, {});
      kvSet(SINCE, fire.fired);
    },
  },
});
