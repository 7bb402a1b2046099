import assert from 'node:assert/strict';
import { afterEach, beforeEach, describe, it } from 'node:test';
import { MemoryStore } from '../stores/memory/index.js';
import { ManualClock } from './clock.js';
import { InvalidOptionError } from './errors.js';
import { SessionManager } from './manager.js';
import type { SessionManagerOptions } from './options.js';

const store = new MemoryStore();
const managers: SessionManager[] = [];

/** A manager from options an app might write in plain JavaScript, where the types do not stop it. */
function make(options: Record<string, unknown>): SessionManager {
  const manager = new SessionManager({ store, clock: new ManualClock(), cleanupInterval: false, ...options } as SessionManagerOptions);
  managers.push(manager);
  return manager;
}

/** The message of the `InvalidOptionError` that `options` are refused with. */
function refusal(options: Record<string, unknown>): string {
  try {
    make(options);
  } catch (error) {
    assert.ok(error instanceof InvalidOptionError, `an InvalidOptionError, got ${String(error)}`);
    return error.message;
  }
  assert.fail(`${JSON.stringify(Object.keys(options))} were accepted`);
}

afterEach(() => {
  for (const manager of managers.splice(0)) manager.close();
});

describe('unknown options', () => {
  it('are refused with the nearest known name, top-level and under cookie', () => {
    assert.equal(refusal({ idleTimout: 60 }), 'unknown option idleTimout: did you mean idleTimeout?');
    assert.equal(refusal({ IdleTimeout: 60 }), 'unknown option IdleTimeout: did you mean idleTimeout?');
    assert.equal(refusal({ absoluteTimeuot: 60 }), 'unknown option absoluteTimeuot: did you mean absoluteTimeout?');
    assert.equal(refusal({ cookie: { sameSit: 'lax' } }), 'unknown option cookie.sameSit: did you mean cookie.sameSite?');
    // A cookie option given at the top level is found where it belongs.
    assert.equal(refusal({ sameSite: 'strict' }), 'unknown option sameSite: did you mean cookie.sameSite?');
    assert.equal(refusal({ name: 'sid' }), 'unknown option name: did you mean cookie.name?');
  });

  it('with no near name, list the known ones; several are reported together', () => {
    assert.match(
      refusal({ frobnicate: true }),
      /^unknown option frobnicate \(known options: store, idleTimeout, absoluteTimeout, .*onStoreError, cache, adopt, webhooks\)$/,
    );
    assert.match(
      refusal({ cookie: { colour: 'blue' } }),
      /^unknown option cookie\.colour \(known cookie options: name, secure, sameSite\)$/,
    );
    const both = refusal({ idleTimout: 60, cookie: { secuer: true } });
    assert.match(both, /unknown option idleTimout: did you mean idleTimeout\?/);
    assert.match(both, /unknown option cookie\.secuer: did you mean cookie\.secure\?/);
  });

  it('known options whose value is undefined are not unknown', () => {
    assert.ok(make({ idleTimeout: undefined, cookie: { name: undefined } }) instanceof SessionManager);
  });

  it('say why an express-session habit has no place here', () => {
    assert.match(
      refusal({ secret: 'keyboard cat' }),
      /^unknown option secret: tessera needs no secret: its tokens are random and only their hash is stored/,
    );
    assert.match(refusal({ resave: false }), /^unknown option resave: tessera saves only what a request changed/);
    assert.match(
      refusal({ saveUninitialized: false }),
      /^unknown option saveUninitialized: tessera creates a session only when something is written to it/,
    );
    assert.match(
      refusal({ cookie: { maxAge: 60_000 } }),
      /^unknown option cookie\.maxAge: the cookie follows the session's expiry.*idleTimeout.*absoluteTimeout/,
    );
    assert.match(refusal({ cookie: { httpOnly: true } }), /^unknown option cookie\.httpOnly: the cookie is always HttpOnly/);
    assert.match(refusal({ rolling: true }), /^unknown option rolling: /);
  });
});

describe('the store option', () => {
  it('missing: says what to give', () => {
    assert.match(refusal({ store: undefined }), /^options\.store is required: a tessera store, such as new MemoryStore\(\)/);
  });

  it('an express-session store (get, set, destroy): says to use a tessera store', () => {
    const expressStore = { get() {}, set() {}, destroy() {}, touch() {}, on() {} };
    assert.match(
      refusal({ store: expressStore }),
      /^options\.store looks like an express-session store \(it has get, set and destroy\); tessera needs a tessera store/,
    );
  });

  it('an object without the contract: names what it lacks', () => {
    assert.equal(
      refusal({ store: { capabilities: {}, load() {}, create() {} } }),
      'options.store must be a tessera SessionStore; it lacks apply, delete, trimSubject, isSuperseded, deleteExpired, close',
    );
  });
});

describe('warnings on likely mistakes', () => {
  let warnings: Error[];
  const listen = (warning: Error) => warnings.push(warning);
  const codes = () => warnings.map((warning) => (warning as Error & { code?: string }).code);
  /** Node emits a warning on the next tick. */
  const flush = () => new Promise((resolve) => setImmediate(resolve));

  beforeEach(() => {
    warnings = [];
    process.on('warning', listen);
  });
  afterEach(() => {
    process.off('warning', listen);
  });

  it('none for the defaults or sensible timeouts', async () => {
    make({});
    make({ idleTimeout: 7 * 86_400, absoluteTimeout: 30 * 86_400 });
    await flush();
    assert.deepEqual(codes(), []);
  });

  it('an idle timeout over 30 days: once, with a code apps can filter on', async () => {
    make({ idleTimeout: 31 * 86_400, absoluteTimeout: 60 * 86_400 });
    await flush();
    assert.deepEqual(codes(), ['TESSERA_IDLE_TIMEOUT_LONG']);
    assert.equal(warnings[0]?.name, 'TesseraWarning');
    assert.match(warnings[0]?.message ?? '', /idleTimeout is 2678400 seconds \(31 days\)/);
  });

  it('an idle timeout longer than the absolute one (which then always wins)', async () => {
    make({ idleTimeout: 7200, absoluteTimeout: 3600 });
    await flush();
    assert.deepEqual(codes(), ['TESSERA_IDLE_TIMEOUT_OVER_ABSOLUTE']);
    assert.match(warnings[0]?.message ?? '', /idleTimeout \(7200 s\) is longer than absoluteTimeout \(3600 s\)/);
  });

  it("a session's own idle timeout (login, setIdleTimeout) is checked too, once per manager", async () => {
    const manager = make({ absoluteTimeout: 3600 });
    for (let i = 0; i < 3; i++) {
      const session = await manager.load({ secure: false });
      await session.login(`user-${i}`, { idleTimeout: 7200 });
      await session.setIdleTimeout(40 * 86_400);
    }
    await flush();
    assert.deepEqual(codes().sort(), ['TESSERA_IDLE_TIMEOUT_LONG', 'TESSERA_IDLE_TIMEOUT_OVER_ABSOLUTE']);
    // Another manager warns again: it may be configured apart.
    const other = make({ absoluteTimeout: 3600 });
    await (await other.load({ secure: false })).login('x', { idleTimeout: 7200 });
    await flush();
    assert.equal(codes().length, 3);
  });
});
