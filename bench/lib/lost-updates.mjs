// The lost-update test: many concurrent increments on one session, and how many of them the
// counter shows afterwards. A store that saves the whole session after the request (read,
// modify, write) loses the increments that overlapped.
import { cfg } from './config.mjs';
import { log } from './log.mjs';

/** `cfg.lostRequests` concurrent increments on one fresh session; lost = requests - (final - initial). */
async function lostUpdates(variant) {
  const base = `http://127.0.0.1:${variant.port}`;
  const login = await fetch(`${base}/login?user=lost-${variant.id}`, { method: 'POST', signal: AbortSignal.timeout(10_000) });
  await login.arrayBuffer();
  const cookie = login.headers.getSetCookie()[0]?.split(';')[0];
  if (!cookie) throw new Error('login set no cookie');
  const read = async () => (await (await fetch(`${base}/read`, { headers: { cookie }, signal: AbortSignal.timeout(10_000) })).json()).n;
  const initial = await read();
  const statuses = await Promise.all(
    Array.from({ length: cfg.lostRequests }, async () => {
      try {
        const res = await fetch(`${base}/inc`, { headers: { cookie }, signal: AbortSignal.timeout(30_000) });
        await res.arrayBuffer();
        return res.status;
      } catch {
        return 0;
      }
    }),
  );
  const final = await read();
  const failed = statuses.filter((s) => s !== 200).length;
  return { initial, final, lost: cfg.lostRequests - (final - initial), failed };
}

/** Tests every ready variant with sessions in `active`, into `variant.lost`. */
export async function checkLostUpdates(active) {
  for (const v of active.filter((x) => x.sessions && x.status.status === 'ready')) {
    try {
      v.lost = await lostUpdates(v);
      log(
        `lost      ${v.id.padEnd(22)} ${v.lost.lost} of ${cfg.lostRequests} (counter ${v.lost.initial} -> ${v.lost.final}, ${v.lost.failed} non-200)`,
      );
    } catch (error) {
      v.lost = { error: error.message };
      log(`lost ${v.id}: ${error.message}`);
    }
  }
}
