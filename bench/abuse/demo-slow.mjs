// Issue 20, "The demo server is a good example" (slow requests), over plain sockets against the
// built demo: --clients connections each announce a 1,000-byte body for POST /api/login and send
// one byte a second; as many more send their request headers one line a second. Prints how long
// the server held them (until it closed the connection, or "still open" when --maxSeconds ran
// out), what it answered, and whether another client (127.0.0.2) was served meanwhile.
//   node bench/abuse/demo-slow.mjs [--clients 20] [--maxSeconds 60] [--root DIR]
import { connect } from 'node:net';
import { describeRoot, parseArgs, send, sleep, startDemo, summary, thisRoot } from './demo-lib.mjs';

const options = parseArgs({ clients: 20, maxSeconds: 60, root: thisRoot });
const demo = await startDemo({ root: options.root, env: { TESSERA_STORE: 'memory:' } });

/** A connection that sends `head` then one of `drip` a second; resolves with how long it lasted. */
function slowClient(head, drip) {
  return new Promise((resolveClient) => {
    const started = performance.now();
    const socket = connect({ host: '127.0.0.1', port: demo.port });
    let received = '';
    let sent = 0;
    let timer = null;
    const done = (outcome) => {
      clearInterval(timer);
      clearTimeout(limit);
      socket.destroy();
      resolveClient({ outcome, seconds: (performance.now() - started) / 1000, answer: received.split('\r\n')[0] || null, bytesSent: sent });
    };
    const limit = setTimeout(() => done('still open'), options.maxSeconds * 1000);
    socket.setEncoding('utf8').on('data', (chunk) => (received += chunk));
    socket.on('error', () => undefined);
    socket.on('close', () => done('closed by the server'));
    socket.on('connect', () => {
      socket.write(head);
      timer = setInterval(() => {
        socket.write(drip);
        sent++;
      }, 1000);
    });
  });
}

try {
  const bodies = Array.from({ length: options.clients }, () =>
    slowClient('POST /api/login HTTP/1.1\r\nHost: demo\r\nContent-Type: application/json\r\nContent-Length: 1000\r\n\r\n{', ' '),
  );
  const headers = Array.from({ length: options.clients }, (_, i) =>
    slowClient('GET /api/session HTTP/1.1\r\nHost: demo\r\n', `X-Slow-${i}: x\r\n`),
  );
  await sleep(2000);
  const meanwhile = await send(demo.port, { path: '/api/session', localAddress: '127.0.0.2', timeoutMs: 10_000 });
  const describe = (results) => ({
    clients: results.length,
    closedByServer: results.filter((r) => r.outcome === 'closed by the server').length,
    stillOpenAtLimit: results.filter((r) => r.outcome === 'still open').length,
    heldSeconds: (({ n, medianMs, maxMs }) => ({ n, median: medianMs, max: maxMs }))(summary(results.map((r) => r.seconds))),
    answers: [...new Set(results.map((r) => r.answer))],
  });
  console.log(
    JSON.stringify(
      {
        script: 'demo-slow',
        demo: await describeRoot(options.root),
        maxSeconds: options.maxSeconds,
        slowBodies: describe(await Promise.all(bodies)),
        slowHeaders: describe(await Promise.all(headers)),
        anotherClientMeanwhile: { status: meanwhile.status, ms: Math.round(meanwhile.ms * 10) / 10 },
        log: demo
          .output()
          .split('\n')
          .filter((line) => /abort|timed out|failed|^\s+at /.test(line))
          .slice(0, 3),
      },
      null,
      2,
    ),
  );
} finally {
  await demo.stop();
}
