import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { encryptionCodec, parseKeyRing } from '../core/index.js';
import { main } from './index.js';

describe('tessera cli', () => {
  it('keys generate prints a usable 32-byte key', async () => {
    const lines: string[] = [];
    assert.equal(await main(['keys', 'generate', 'primary'], (l) => lines.push(l)), 0);
    assert.match(lines[0] as string, /^primary:[A-Za-z0-9+/]{43}=$/);
    const keys = parseKeyRing(lines[0] as string);
    assert.equal(keys[0]?.key.length, 32);
    assert.ok(encryptionCodec(keys));
  });

  it('explains its usage and refuses unknown commands', async () => {
    const out: string[] = [];
    const err: string[] = [];
    assert.equal(
      await main(
        ['nope'],
        (l) => out.push(l),
        (l) => err.push(l),
      ),
      2,
    );
    assert.match(err[0] as string, /unknown command: nope/);
    assert.equal(
      await main(
        ['keys', 'generate', 'bad id!'],
        (l) => out.push(l),
        (l) => err.push(l),
      ),
      2,
    );
    assert.match(err[1] as string, /key id/);
  });

  it('help lists every command of the table, and a name that is only on Object.prototype is unknown', async () => {
    const out: string[] = [];
    const err: string[] = [];
    assert.equal(
      await main(
        ['help'],
        (l) => out.push(l),
        (l) => err.push(l),
      ),
      0,
    );
    assert.match(out[0] as string, /^ {2}keys generate \[keyId\] /m);
    assert.equal(
      await main(
        ['toString'],
        (l) => out.push(l),
        (l) => err.push(l),
      ),
      2,
    );
    assert.match(err[0] as string, /unknown command: toString/);
  });
});
