// Issue 20, "one client with 19,980 connections locked everyone out", over plain sockets against
// the built demo, run with a file-descriptor limit of --nofile (soft and hard) so that one bounded
// flood can reach it: one client (127.0.0.1) opens --connections idle connections, 200 at a time,
// and holds them. Prints how many the client still holds 2 s after the last one opened and 12 s
// later (a connection the server dropped or timed out is closed), and whether another client
// (127.0.0.2) gets an answer to GET /api/session within 5 s, at both moments.
//   node bench/abuse/demo-connections.mjs [--connections 5000] [--nofile 4096] [--root DIR]
import { connect } from 'node:net';
import { describeRoot, parseArgs, send, sleep, startDemo, thisRoot } from './demo-lib.mjs';

const options = parseArgs({ connections: 5000, nofile: 4096, root: thisRoot });
const demo = await startDemo({ root: options.root, env: { TESSERA_STORE: 'memory:' }, nofile: options.nofile });
const sockets = [];
let failedToConnect = 0;
let closed = 0;

function open() {
  return new Promise((resolveOpen) => {
    const socket = connect({ host: '127.0.0.1', port: demo.port, localAddress: '127.0.0.1' });
    socket.on('error', () => undefined);
    // Read whatever the server sends (a 408), so that its closing the connection is seen.
    socket.resume();
    socket.once('connect', () => {
      sockets.push(socket);
      socket.once('close', () => closed++);
      resolveOpen();
    });
    socket.once('close', () => {
      if (socket.connecting) failedToConnect++;
      resolveOpen();
    });
  });
}

async function victim() {
  const reply = await send(demo.port, { path: '/api/session', localAddress: '127.0.0.2', timeoutMs: 5000 });
  return reply.status === 0
    ? `not served (${reply.error} after ${Math.round(reply.ms)} ms)`
    : `HTTP ${reply.status} in ${Math.round(reply.ms)} ms`;
}

try {
  const before = await victim();
  const started = performance.now();
  for (let i = 0; i < options.connections; i += 200) {
    await Promise.all(Array.from({ length: Math.min(200, options.connections - i) }, open));
  }
  const openSeconds = (performance.now() - started) / 1000;
  await sleep(2000);
  const heldAt2s = sockets.length - closed;
  const victimAt2s = await victim();
  await sleep(10_000);
  const heldAt12s = sockets.length - closed;
  const victimAt12s = await victim();
  console.log(
    JSON.stringify(
      {
        script: 'demo-connections',
        demo: await describeRoot(options.root),
        serverFileDescriptorLimit: options.nofile,
        flood: {
          attempted: options.connections,
          connected: sockets.length,
          failedToConnect,
          openSeconds: Math.round(openSeconds * 10) / 10,
        },
        anotherClientBefore: before,
        heldByTheClient2sLater: heldAt2s,
        anotherClient2sLater: victimAt2s,
        heldByTheClient12sLater: heldAt12s,
        anotherClient12sLater: victimAt12s,
        log: demo
          .output()
          .split('\n')
          .filter((line) => /EMFILE|error|failed/i.test(line))
          .slice(0, 3),
      },
      null,
      2,
    ),
  );
} finally {
  for (const socket of sockets) socket.destroy();
  await demo.stop();
}
