import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { encryptionCodec, parseKeyRing } from '../core/index.js';
import { main } from './index.js';

describe('tessera cli', () => {
  it('keys generate prints a usable 32-byte key', () => {
    const lines: string[] = [];
    assert.equal(
      main(['keys', 'generate', 'primary'], (l) => lines.push(l)),
      0,
    );
    assert.match(lines[0] as string, /^primary:[A-Za-z0-9+/]{43}=$/);
    const keys = parseKeyRing(lines[0] as string);
    assert.equal(keys[0]?.key.length, 32);
    assert.ok(encryptionCodec(keys));
  });

  it('explains its usage and refuses unknown commands', () => {
    const out: string[] = [];
    const err: string[] = [];
    assert.equal(
      main(
        ['nope'],
        (l) => out.push(l),
        (l) => err.push(l),
      ),
      2,
    );
    assert.match(err[0] as string, /unknown command: nope/);
    assert.equal(
      main(
        ['keys', 'generate', 'bad id!'],
        (l) => out.push(l),
        (l) => err.push(l),
      ),
      2,
    );
    assert.match(err[1] as string, /key id/);
  });
});
