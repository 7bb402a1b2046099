import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { InvalidOptionError } from '../../core/index.js';
import { RedisStore, type RedisStoreOptions } from './index.js';

/** What constructing a store with `options` throws. */
function refusal(options: unknown): InvalidOptionError {
  let thrown: unknown = null;
  try {
    new RedisStore(options as RedisStoreOptions);
  } catch (error) {
    thrown = error;
  }
  assert.ok(thrown instanceof InvalidOptionError, `an InvalidOptionError, got ${String(thrown)}`);
  return thrown;
}

describe('RedisStore options', () => {
  it('refuses ioredis-style { host, port } and says to pass a URL or a client', () => {
    const error = refusal({ host: '10.0.0.5', port: 6380 });
    assert.match(error.message, /host, port/);
    assert.match(error.message, /\{ url: 'redis:\/\/10\.0\.0\.5:6380\/0' \}/);
    assert.match(error.message, /\{ client \}/);
  });

  it('builds the suggested URL from password and db too, without echoing the password', () => {
    const error = refusal({ host: 'cache', port: 6379, password: 'hunter2-secret', db: 2 });
    assert.match(error.message, /host, port, password, db/);
    assert.match(error.message, /redis:\/\/:PASSWORD@cache:6379\/2/);
    assert.doesNotMatch(error.message, /hunter2-secret/);
  });

  it('refuses a lone port or db the same way', () => {
    assert.match(refusal({ port: 6380 }).message, /redis:\/\/127\.0\.0\.1:6380\/0/);
    assert.match(refusal({ url: 'redis://127.0.0.1:6379', db: 3 }).message, /db/);
  });

  it('refuses a url that is not a redis:// or rediss:// URL, naming it', () => {
    assert.match(refusal({ url: 'localhost:6379' }).message, /url must be a redis:\/\/ or rediss:\/\/ URL/);
    assert.match(refusal({ url: 'http://127.0.0.1:6379' }).message, /redis:\/\/ or rediss:\/\//);
    assert.match(refusal({ url: 'not a url' }).message, /"not a url"/);
  });

  it('never echoes the password of a url it refuses', () => {
    assert.doesNotMatch(refusal({ url: 'http://:hunter2-secret@127.0.0.1:6379' }).message, /hunter2-secret/);
  });

  it('refuses an onError that is not a function', () => {
    assert.match(refusal({ onError: 'log' }).message, /onError must be a function/);
  });
});
