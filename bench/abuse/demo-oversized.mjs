// Issue 20, "closes the connection after refusing an oversized body", over a plain socket against
// the built demo: POST /api/login with a body over the demo's 4 KB limit, then GET /api/session on
// the same keep-alive connection, as a client reusing its connection would. If the server closes the
// connection before answering the GET, the client sends it again on a new connection. Prints, per
// body size, what the refusal said about the connection and the time from sending until the GET
// was answered (median of --rounds).
//   node bench/abuse/demo-oversized.mjs [--rounds 5] [--root DIR]
import { connect } from 'node:net';
import { describeRoot, parseArgs, send, startDemo, summary, thisRoot } from './demo-lib.mjs';

const options = parseArgs({ rounds: 5, root: thisRoot });
const demo = await startDemo({ root: options.root, env: { TESSERA_STORE: 'memory:' } });
const GET = 'GET /api/session HTTP/1.1\r\nHost: demo\r\n\r\n';

function round(size) {
  return new Promise((resolveRound) => {
    const started = performance.now();
    const socket = connect({ host: '127.0.0.1', port: demo.port });
    let received = '';
    let settled = false;
    const finish = async (how) => {
      if (settled) return;
      settled = true;
      socket.destroy();
      const refusal = received.split('\r\n\r\n')[0] ?? '';
      const connection = /\r\nconnection: *([^\r]*)/i.exec(refusal)?.[1] ?? null;
      if (how === 'answered') return resolveRound({ ms: performance.now() - started, how: 'answered on the same connection', connection });
      // Closed before the GET was answered: the client sends it again on a new connection.
      const again = await send(demo.port, { path: '/api/session' });
      resolveRound({
        ms: performance.now() - started,
        how: `connection closed unanswered after ${Math.round(performance.now() - started - again.ms)} ms; re-sent (${again.status})`,
        connection,
      });
    };
    socket.setEncoding('utf8').on('data', (chunk) => {
      received += chunk;
      if ((received.match(/HTTP\/1\.1 \d{3}/g) ?? []).length >= 2) finish('answered');
    });
    socket.on('error', () => undefined);
    socket.on('close', () => finish('closed'));
    const body = JSON.stringify({ username: 'a', pad: 'x'.repeat(size) });
    socket.write(
      `POST /api/login HTTP/1.1\r\nHost: demo\r\nContent-Type: application/json\r\nContent-Length: ${Buffer.byteLength(body)}\r\n\r\n${body}${GET}`,
    );
  });
}

try {
  const results = {};
  for (const size of [64 * 1024, 1024 * 1024]) {
    const rounds = [];
    for (let i = 0; i < options.rounds; i++) rounds.push(await round(size));
    results[`${size / 1024} KB body`] = {
      refusalConnectionHeader: [...new Set(rounds.map((r) => r.connection))],
      nextRequestAnsweredAfter: (({ n, medianMs, maxMs }) => ({ n, medianMs, maxMs }))(summary(rounds.map((r) => r.ms))),
      how: [...new Set(rounds.map((r) => r.how.replace(/\d+ ms/, 'N ms')))],
      example: rounds[0]?.how,
    };
  }
  console.log(JSON.stringify({ script: 'demo-oversized', demo: await describeRoot(options.root), ...results }, null, 2));
} finally {
  await demo.stop();
}
