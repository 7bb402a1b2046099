// The load generator: autocannon's programmatic API, in this process, against one variant.
import autocannon from 'autocannon';
import { sleep } from './async.mjs';
import { cfg } from './config.mjs';
import { percentile } from './stats.mjs';

/**
 * One autocannon run. The cookies are dealt out to the connections (with 1,000 cookies and 50
 * connections, 20 each) and every connection cycles through its own, so concurrent requests name
 * different sessions and each session gets the same share. The requests are built once, which
 * keeps the load generator's cost per request as low as with one static request. Latency is
 * kept at µs precision.
 */
export function load(variant, workload, { duration, amount, connections = cfg.connections }) {
  const cookies = variant.cookies;
  const share = Math.max(1, Math.ceil(cookies.length / connections));
  const start = Math.floor(Math.random() * cookies.length);
  let clientIndex = 0;
  const latencies = [];
  return new Promise((resolve, reject) => {
    const instance = autocannon(
      {
        url: `http://127.0.0.1:${variant.port}`,
        connections,
        pipelining: 1,
        ...(amount ? { amount } : { duration }),
        timeout: 10,
        requests: [{ method: 'GET', path: workload.path, headers: { cookie: cookies[start] } }],
        setupClient: (client) => {
          const offset = start + clientIndex++ * share;
          const requests = Array.from({ length: share }, (_, k) => ({
            method: 'GET',
            path: workload.path,
            headers: { cookie: cookies[(offset + k) % cookies.length] },
          }));
          client.setRequests(requests);
        },
      },
      (error, result) => {
        if (error) return reject(error);
        latencies.sort((a, b) => a - b);
        resolve({
          rps: result.requests.average,
          total: result.requests.total,
          p50: percentile(latencies, 50),
          p99: percentile(latencies, 99),
          non2xx: result.non2xx,
          errors: result.errors + result.timeouts,
        });
      },
    );
    instance.on('response', (_client, statusCode, _bytes, responseTime) => {
      if (statusCode >= 200 && statusCode < 300 && latencies.length < 5_000_000) latencies.push(responseTime);
    });
  });
}

/**
 * A load run, then a pause for its last in-flight requests to finish their store calls, so that
 * none of them lands in the next window of counted commands, statements or CPU.
 */
export async function loadAndSettle(variant, workload, options) {
  const result = await load(variant, workload, options);
  await sleep(150);
  return result;
}
