// Keepalive, in TypeScript: every 55–65 minutes (the first time after 1–10), sends a random
// short message through the first `ready` session whose WhatsApp state is `CONNECTED`, to the
// number in `[behaviours.<name>.params] to`. With no such session it skips with a warning.
// The same behaviour as the Rust example (plugins/examples/keepalive): for the same seed the
// two send the same messages at the same times.
//
// `[behaviours.<name>.params]` may set `every` (default "55m..65m") and `first` (default
// "1m..10m"), as the rhai keepalive does. Needs `grants = ["sessions.read", "sessions.send"]`.
import { behaviour, config, every, HostError, pick, sendText, sessions, state, warn } from 'vigil';

const MESSAGES = ['✅ Comprobación de conexión', '🟢 Conexión activa', '👋 Sigo aquí', '🔄 Mantener sesión'];

function keepalive(): void {
  const to = config<string>('to');
  if (to === undefined) {
    throw new Error(
      'no target number: set it in vigil.toml under [behaviours.keepalive.params] as to = "+34 600 000 000"',
    );
  }
  let through: string | undefined;
  for (const s of sessions().filter((s) => s.status === 'ready')) {
    try {
      if (state(s.id) === 'CONNECTED') {
        through = s.id;
        break;
      }
    } catch (e) {
      if (!(e instanceof HostError)) throw e;
      warn(`session ${s.id}: no state: ${e.message}`);
    }
  }
  if (through === undefined) {
    warn('no ready session is CONNECTED: keepalive skipped');
    return;
  }
  sendText(through, to, pick(MESSAGES) ?? MESSAGES[0]);
}

export const plugin = behaviour({
  init() {
    every(config<string>('every') ?? '55m..65m', 'keepalive', config<string>('first') ?? '1m..10m');
  },
  timers: { keepalive },
});
