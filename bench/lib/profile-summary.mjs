// A V8 .cpuprofile summed up for bench/profile.mjs: the self time of a window of it, by group (tessera,
// Fastify, node-redis, Node's own JavaScript, native code), by area and by function, each as a share of the
// busy (not idle) time and in µs per request.
import { readFileSync } from 'node:fs';

const FASTIFY_PARTS = new Set(['fastify', 'find-my-way', 'avvio', 'light-my-request', 'fast-json-stringify', 'toad-cache']);
const FASTIFY_PARTS_TOO = new Set(['safe-regex2', 'ret', 'fast-querystring', 'process-warning', 'abstract-logging', 'pino']);

/** Where a frame's code lives: a package, a folder of tessera's build, a Node module, or V8's own. */
function area({ url, functionName }) {
  if (!url) return functionName.startsWith('(') ? functionName : '(native/builtin)';
  if (url.startsWith('node:')) return `node:${url.slice(5).split('/')[0]}`;
  const pkg = /node_modules\/((?:@[^/]+\/)?[^/]+)/.exec(url);
  if (pkg) return pkg[1];
  const built = /dist\/src\/(.*)\/[^/]+$/.exec(url);
  if (built) return `tessera ${built[1]}`;
  return url.includes('/bench/') ? 'bench server' : url;
}

function group(name) {
  if (name.startsWith('tessera')) return 'tessera (core, stores, adapters)';
  if (name === 'redis' || name.startsWith('@redis/')) return 'node-redis client';
  if (name === '@fastify/session' || name === '@fastify/cookie' || name === 'cookie') return '@fastify/session + @fastify/cookie';
  if (FASTIFY_PARTS.has(name) || FASTIFY_PARTS_TOO.has(name) || name.startsWith('@fastify/')) return 'Fastify and its dependencies';
  if (name === 'connect-redis' || name === 'safe-stable-stringify') return 'connect-redis + safe-stable-stringify';
  if (name.startsWith('node:')) return "Node's own JavaScript (http, net, streams, events, crypto wrappers)";
  if (name === '(native/builtin)') return 'native (writev and other syscalls, V8 builtins)';
  return name;
}

/**
 * The summary as text. `lastSeconds`: only the samples of that many seconds before the profile's end
 * less `endSeconds` count (the measured window); `requests`: the requests served in it, for µs per request.
 */
export function summarizeProfile(file, { lastSeconds = Infinity, endSeconds = 0, requests = 0, top = 30 } = {}) {
  const profile = JSON.parse(readFileSync(file, 'utf8'));
  const nodes = new Map(profile.nodes.map((n) => [n.id, n]));
  const windowEnd = profile.endTime - endSeconds * 1e6;
  const windowStart = windowEnd - lastSeconds * 1e6;
  const selfTime = new Map();
  let at = profile.startTime;
  for (let i = 0; i < profile.samples.length; i++) {
    at += profile.timeDeltas[i];
    if (at < windowStart || at > windowEnd) continue;
    const spent = profile.timeDeltas[i + 1] ?? profile.timeDeltas[i] ?? 0;
    selfTime.set(profile.samples[i], (selfTime.get(profile.samples[i]) ?? 0) + spent);
  }
  const byArea = new Map();
  const byFunction = new Map();
  const byGroup = new Map();
  let busy = 0;
  let total = 0;
  for (const [id, spent] of selfTime) {
    const frame = nodes.get(id).callFrame;
    total += spent;
    if (frame.functionName === '(idle)') continue;
    busy += spent;
    const where = area(frame);
    const name = `${frame.functionName || '(anonymous)'} ${frame.url.split('/').slice(-2).join('/')}:${frame.lineNumber + 1}`;
    byArea.set(where, (byArea.get(where) ?? 0) + spent);
    byFunction.set(name, (byFunction.get(name) ?? 0) + spent);
    byGroup.set(group(where), (byGroup.get(group(where)) ?? 0) + spent);
  }
  const line = ([name, spent]) =>
    `${((spent / busy) * 100).toFixed(1).padStart(5)} %${requests ? ` ${(spent / requests).toFixed(1).padStart(6)} µs/req` : ''}  ${name}`;
  const sorted = (map, n = Infinity) =>
    [...map]
      .sort((a, b) => b[1] - a[1])
      .slice(0, n)
      .map(line);
  return [
    `window ${(total / 1e6).toFixed(2)} s, busy ${(busy / 1e6).toFixed(2)} s${requests ? `, ${(busy / requests).toFixed(1)} µs per request over ${requests}` : ''}; shares of the busy time`,
    '',
    'by group:',
    ...sorted(byGroup),
    '',
    'by area:',
    ...sorted(byArea, 25),
    '',
    'by function:',
    ...sorted(byFunction, top),
  ].join('\n');
}
