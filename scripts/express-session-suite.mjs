// Runs express-session's own test/session.js (from its repository: the npm tarball has no tests)
// against tessera-session/adapters/express-session-compat, and sorts each failure into the reason
// it does not apply to a compatible API. Nothing fetched is committed: the tests are copied into
// a temporary directory with a shim in place of `require('../')`.
//
//   npm run build
//   node scripts/express-session-suite.mjs <expressjs/session: a checkout or a bare git dir> --deps <dir>
//
// <dir> holds a node_modules with the suite's dev dependencies, installed apart from the
// project's (the project does not depend on them):
//   npm install --prefix <dir> mocha@10.8.2 supertest@6.3.4 after@0.8.2 cookie-parser@1.4.6 express@4.17.3
//
// The shim is `session(options)`: a SessionManager over tessera's MemoryStore, named and timed
// from express-session's options where tessera has the same setting (`name`/`key`,
// `cookie.maxAge` as the idle timeout, `cookie.secure`, `cookie.sameSite: 'strict'`), and the
// compat middleware with express-session's default `saveUninitialized: true`. `proxy: true`
// becomes what Express's `trust proxy` gives an app: `req.secure` from the proxy's
// X-Forwarded-Proto. Every other option is left out: tessera has none like it. tessera's cookie
// names exclude '.', so connect.sid goes over the wire as connect_sid and the shim renames it back
// in the Cookie and Set-Cookie headers: the suite checks the name almost everywhere, and would
// otherwise test nothing else.
import { execFileSync, spawnSync } from 'node:child_process';
import { cpSync, existsSync, mkdirSync, mkdtempSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';

const root = resolve(import.meta.dirname, '..');
const args = process.argv.slice(2);
const depsAt = args.indexOf('--deps');
const repo = args.find((arg, i) => !arg.startsWith('--') && i !== depsAt + 1);
const deps = depsAt === -1 ? undefined : args[depsAt + 1];
if (repo === undefined || deps === undefined) {
  console.error('usage: node scripts/express-session-suite.mjs <expressjs/session checkout or bare git dir> --deps <dir>');
  process.exit(2);
}
const compatBuild = join(root, 'dist/src/adapters/express-session-compat/index.js');
if (!existsSync(compatBuild)) {
  console.error(`${compatBuild} is missing: run npm run build first`);
  process.exit(2);
}
const depsRequire = createRequire(join(resolve(deps), 'node_modules', 'package.json'));
for (const name of ['mocha', 'supertest', 'after', 'cookie-parser', 'express']) {
  try {
    depsRequire.resolve(name);
  } catch {
    console.error(`${name} is not in ${deps}/node_modules: see the install line at the top of this script`);
    process.exit(2);
  }
}

// The suite, copied out of the checkout (or out of the bare repository's HEAD).
const work = mkdtempSync(join(tmpdir(), 'express-session-suite-'));
let commit = 'unknown';
if (existsSync(join(repo, 'test', 'session.js'))) {
  cpSync(join(repo, 'test'), join(work, 'test'), { recursive: true });
  commit = spawnSync('git', ['-C', repo, 'rev-parse', 'HEAD'], { encoding: 'utf8' }).stdout.trim() || commit;
} else {
  commit = execFileSync('git', ['--git-dir', repo, 'rev-parse', 'HEAD'], { encoding: 'utf8' }).trim();
  const archive = execFileSync('git', ['--git-dir', repo, 'archive', 'HEAD', 'test'], { maxBuffer: 64 << 20 });
  execFileSync('tar', ['-x', '-C', work], { input: archive });
}
symlinkSync(join(resolve(deps), 'node_modules'), join(work, 'node_modules'), 'dir');
const dist = (path) => JSON.stringify(join(root, 'dist/src', path));
const legacyPackage = JSON.stringify(join(root, 'node_modules/express-session'));
writeFileSync(
  join(work, 'index.js'),
  `'use strict'
const legacy = require(${legacyPackage})
const { SessionManager } = require(${dist('core/index.js')})
const { MemoryStore } = require(${dist('stores/memory/index.js')})
const { isSecureRequest } = require(${dist('adapters/node/index.js')})
const { session: compat } = require(${dist('adapters/express-session-compat/index.js')})

module.exports = function session (options = {}) {
  const cookie = typeof options.cookie === 'object' && options.cookie !== null ? options.cookie : {}
  // tessera's cookie names are A-Z a-z 0-9 _ - only: connect.sid is connect_sid on the wire here,
  // renamed back and forth below so that the suite's checks of the name test the rest.
  const legacyName = options.name || options.key || 'connect.sid'
  const name = legacyName.replace(/[^A-Za-z0-9_-]/g, '_')
  const manager = new SessionManager({
    store: new MemoryStore(),
    cleanupInterval: false,
    cookie: {
      name,
      secure: cookie.secure === true || cookie.secure === 'auto' ? cookie.secure : 'auto',
      ...(cookie.sameSite === 'strict' ? { sameSite: 'strict' } : {})
    },
    ...(typeof cookie.maxAge === 'number' ? { idleTimeout: Math.max(1, Math.ceil(cookie.maxAge / 1000)) } : {})
  })
  const middleware = compat(manager, { saveUninitialized: options.saveUninitialized !== false })
  return function (req, res, next) {
    if (options.proxy === true) req.secure = isSecureRequest(req, 1)
    if (name !== legacyName) {
      if (typeof req.headers.cookie === 'string') req.headers.cookie = req.headers.cookie.split(legacyName + '=').join(name + '=')
      const setHeader = res.setHeader
      res.setHeader = function (field, value) {
        const rename = (v) => String(v).replace(new RegExp('^(__Host-)?' + name + '='), '$1' + legacyName + '=')
        if (String(field).toLowerCase() === 'set-cookie') value = Array.isArray(value) ? value.map(rename) : rename(value)
        return setHeader.call(this, field, value)
      }
    }
    middleware(req, res, next)
  }
}
// The suite builds express-session's stores and cookies itself; they are not the compat layer's.
Object.assign(module.exports, { Store: legacy.Store, MemoryStore: legacy.MemoryStore, Session: legacy.Session, Cookie: legacy.Cookie })
`,
);
mkdirSync(join(work, 'session'));
writeFileSync(
  join(work, 'session', 'cookie.js'),
  `module.exports = require(${JSON.stringify(join(root, 'node_modules/express-session/session/cookie.js'))})\n`,
);
const gencert = spawnSync('sh', ['test/support/gencert.sh'], { cwd: work, encoding: 'utf8' });
if (gencert.status !== 0) console.error(`gencert.sh failed (the HTTPS test will fail): ${gencert.stderr.trim()}`);

/** Why a test of express-session does not apply to tessera's compat layer. */
const REASONS = {
  store:
    "inspects or breaks express-session's Store (store.get/set/length/all/clear/touch/destroy, a store shared by two apps, store events): tessera's stores have their own contract, and the shim leaves the suite's store unused",
  cookie:
    "tessera's cookie rules: Max-Age until the absolute expiry, never re-sent on a save or changed by maxAge (rolling, 'set-cookie when modified'); HttpOnly and Secure not settable per request; a Secure cookie is named __Host- and set even over plain HTTP when cookie.secure is true",
  options:
    'an express-session option tessera has no equivalent of: cookie path, cookie as a function, sameSite none/auto, partitioned, expires, unset validation',
  signed:
    "expects express-session's signed cookie value (s:<id>.<HMAC>, genid's ids) or its secret checks: tessera's token is random, only its hash is stored, and there is no secret",
  seconds: 'a 5 ms maxAge: tessera timeouts are whole seconds (it becomes 1 s), so the session has not expired 20 ms later',
  cookieParser:
    "reads the session cookie from cookie-parser's req.cookies / req.signedCookies after the app overwrote the Cookie header: tessera reads the Cookie header",
  once: 'tessera refuses a second session middleware on one request (req.session already set) instead of passing it by',
  id: "replaces req.sessionID by a function to stop the save: tessera's req.sessionID is its public id, read-only",
  eagerDestroy:
    'saveUninitialized (the suite default) stores the session before the handler runs, so a destroy in the same request answers with a clearing cookie rather than none',
};

/** The failing tests by reason, titled without the leading 'session() '. */
const NOT_APPLICABLE = {
  once: ['should do nothing if req.session exists'],
  signed: [
    'should error without secret',
    'genid option should reject non-function values',
    'genid option should allow custom function',
    'genid option should encode unsafe chars',
    'genid option should provide req argument',
    'secret option should reject empty arrays',
  ],
  store: [
    'should create a new session',
    'should pass session fetch error',
    'should treat ENOENT session fetch error as not found',
    'should create multiple sessions',
    'should handle reserved properties in storage',
    'when response ended should have saved session',
    'when response ended should have saved session even with empty response',
    'when response ended should have saved session even with multi-write',
    'when response ended should have saved session even with non-chunked response',
    'when response ended should have saved session with updated cookie expiration',
    'when sid not in store should create a new session',
    'when sid not in store should have a new sid',
    'when session without cookie property in store should pass error from inflate',
    'rolling option should force cookie and save uninitialized session if saveUninitialized option is set to true',
    'rolling option should force cookie and save modified session even if saveUninitialized option is set to false',
    'resave option should default to true',
    'resave option when true should force save on unmodified session',
    'resave option when false should prevent save on unmodified session',
    'resave option when false should still save modified session',
    'resave option when false should detect a "cookie" property as modified',
    'resave option when false should pass session touch error',
    'saveUninitialized option should default to true',
    'saveUninitialized option should force save of uninitialized session',
    'saveUninitialized option should still save modified session',
    'saveUninitialized option should pass session save error',
    'secret option when an array should read cookies using all elements',
    'unset option should default to keep',
    'unset option should allow destroy on req.session = null',
    'unset option should pass session destroy error',
    'req.session should persist',
    'req.session should not be set if store is disconnected',
    'req.session should be set when store reconnects',
    'req.session .reload() should error is session missing',
    'req.session .save() should save session to store',
    'req.session .save() should prevent end-of-request save',
    'req.session .save() should prevent end-of-request save on reloaded session',
    'req.session .save() when saveUninitialized is false should prevent end-of-request save',
    'req.session .touch() should reset session expiration',
  ],
  id: ['should not save with bogus req.sessionID'],
  cookie: [
    'should update cookie expiration when slow write',
    'proxy option when enabled should trust X-Forwarded-Proto when string',
    'proxy option when enabled should trust X-Forwarded-Proto when comma-separated list',
    'proxy option when enabled should work when no header',
    'proxy option when disabled should not trust X-Forwarded-Proto',
    'proxy option when disabled should ignore req.secure',
    'proxy option when unspecified should not trust X-Forwarded-Proto',
    'proxy option when unspecified should use req.secure',
    'cookie option when "secure" set to "auto" when "proxy" is "true" should set secure when X-Forwarded-Proto is https',
    'cookie option when "secure" set to "auto" when "proxy" is undefined should set secure if req.secure = true',
    'cookie option when "sameSite" set to "auto" combined with secure auto when "secure" is "true" should not set cookie when insecure',
    'rolling option should force cookie on unmodified session',
    'req.session should only set-cookie when modified',
    'req.session .cookie .* should serialize as parameters',
    'req.session .cookie .* should override defaults',
    'req.session .cookie .secure should set cookie when secure',
    'req.session .cookie .secure should not set-cookie when insecure',
    'req.session .cookie .maxAge should set cookie expires relative to maxAge',
    'req.session .cookie .maxAge should modify cookie expires when changed',
    'req.session .cookie .maxAge should modify cookie expires when changed to large value',
    'req.session .cookie .expires when given a Date should set absolute',
  ],
  seconds: ['when session expired in store should create a new session', 'when session expired in store should have a new sid'],
  options: [
    'cookie option when "path" set to "/foo/bar" should not set cookie for "/" request',
    'cookie option when "path" set to "/foo/bar" should not set cookie for "http://foo/bar" request',
    'cookie option when "path" set to "/foo/bar" when mounted at "/foo" should not set cookie for "/foo/foo/bar" request',
    'cookie option when "cookie" is a function should call custom function and apply cookie options',
    'cookie option when "cookie" is a function should provide req argument',
    'cookie option when "sameSite" set to "auto" basic functionality should set SameSite=None for secure connections',
    'cookie option when "sameSite" set to "auto" with proxy settings when "proxy" is "true" should set SameSite=None when X-Forwarded-Proto is https',
    'cookie option when "sameSite" set to "auto" combined with secure auto when "secure" is "auto" should set both Secure and SameSite=None when secure',
    'cookie option when "sameSite" set to "auto" combined with secure auto when "secure" is "false" should set SameSite=None without Secure when secure',
    'cookie option when "sameSite" set to "auto" combined with secure auto when "secure" is "true" should set both Secure and SameSite=None when secure',
    'unset option should reject unknown values',
    'req.session .cookie .* should forward errors setting cookie',
    'req.session .cookie .partitioned when "true" should set partitioned attribute',
  ],
  eagerDestroy: [
    'unset option should not set cookie if initial session destroyed',
    'req.session .destroy() should destroy the previous session',
  ],
  cookieParser: ['cookieParser() should read from req.cookies', 'cookieParser() should read from req.signedCookies'],
};

/** Tests that pass without testing the compat layer, and why. */
const INCIDENTAL = {
  'should export constructors': "the shim re-exports express-session's own constructors",
  'should get secret from req.secret': 'tessera needs no secret at all',
  'when session expired in store should not exist in store': "checks express-session's store, which nothing writes",
  'saveUninitialized option should prevent uninitialized session from being touched':
    "checks express-session's store, which nothing touches",
  'secret option when an array should sign cookies with first element':
    'the two apps do not share a tessera store, not because of the secret',
  'req.session .cookie .* should default to a browser-session length cookie':
    'no Expires attribute, but tessera sends Max-Age: never a browser-session cookie',
  'req.session .cookie .expires when null should be a browser-session cookie':
    'no Expires attribute, but tessera sends Max-Age: never a browser-session cookie',
};

const results = [];
const Mocha = depsRequire('mocha');
process.env.NO_DEPRECATION = 'express-session';
const mocha = new Mocha({ reporter: class Quiet {}, timeout: 5000 });
mocha.addFile(join(work, 'test', 'session.js'));
const runner = mocha.run();
runner.on('pass', (test) => results.push({ title: test.fullTitle(), passed: true }));
runner.on('fail', (test, error) =>
  results.push({ title: test.fullTitle(), passed: false, error: String(error?.message ?? error).split('\n')[0] }),
);
runner.on('end', () => {
  rmSync(work, { recursive: true, force: true });
  const total = runner.total;
  const title = (result) => result.title.replace(/^session\(\) /, '');
  const passed = results.filter((result) => result.passed);
  const incidental = passed.filter((result) => title(result) in INCIDENTAL);
  const reasonOf = (result) => Object.keys(NOT_APPLICABLE).find((key) => NOT_APPLICABLE[key].includes(title(result)));
  const failed = results.filter((result) => !result.passed);
  const unexplained = failed.filter((result) => reasonOf(result) === undefined);
  console.log(`expressjs/session ${commit}, test/session.js against tessera-session/adapters/express-session-compat`);
  console.log(
    `${total} tests: ${passed.length} pass (${incidental.length} of them without testing the compat layer), ${failed.length} fail, ${total - results.length} not run`,
  );
  for (const result of incidental) console.log(`  pass, incidentally: ${title(result)} (${INCIDENTAL[title(result)]})`);
  for (const [key, reason] of Object.entries(REASONS)) {
    const these = failed.filter((result) => reasonOf(result) === key);
    if (these.length === 0) continue;
    console.log(`\n${these.length} do not apply: ${reason}`);
    for (const result of these) console.log(`  - ${title(result)}`);
  }
  if (unexplained.length > 0)
    console.log(`\n${unexplained.length} fail for no reason listed here (a defect of the compat layer, or a new test):`);
  for (const result of unexplained) console.log(`  - ${title(result)}: ${result.error}`);
  if (process.env.LIST_PASSES) for (const result of passed) console.log(`  pass: ${title(result)}`);
  process.exit(unexplained.length > 0 ? 1 : 0);
});
