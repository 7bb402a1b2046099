/**
 * OpenID Connect Back-Channel Logout 1.0 logout tokens, signed with node:crypto (no JOSE
 * dependency): a compact JWS with `typ: logout+jwt`.
 */
import { sign } from 'node:crypto';
import type { SessionNotice } from '../core/outbox.js';
import type { ResolvedOidcFormat } from './options.js';

/** The event claim that makes a JWT a logout token. */
export const BACKCHANNEL_LOGOUT_EVENT = 'http://schemas.openid.net/event/backchannel-logout';

/** Seconds a logout token is valid for after its `iat`; the specification recommends a short life. */
const LIFETIME = 120;

function base64url(value: string | Buffer): string {
  return Buffer.from(value).toString('base64url');
}

/**
 * The logout token for a `session.ended` notice: `jti` is the notice's id (so a receiver can drop
 * a second delivery of it), `sub` its subject (when there is one), `sid` the session's id.
 * @param now Milliseconds since the epoch: the token's `iat`.
 */
export function logoutToken(notice: SessionNotice, format: ResolvedOidcFormat, now: number): string {
  const header = { alg: format.algorithm, typ: 'logout+jwt', ...(format.keyId === null ? {} : { kid: format.keyId }) };
  const iat = Math.floor(now / 1000);
  const claims = {
    iss: format.issuer,
    aud: format.audience,
    iat,
    exp: iat + LIFETIME,
    jti: notice.id,
    events: { [BACKCHANNEL_LOGOUT_EVENT]: {} },
    ...(notice.subject === null ? {} : { sub: notice.subject }),
    sid: notice.sessionId,
  };
  const input = `${base64url(JSON.stringify(header))}.${base64url(JSON.stringify(claims))}`;
  const signature =
    format.algorithm === 'ES256'
      ? // JWS wants the raw r||s pair, not node's default DER.
        sign('sha256', Buffer.from(input), { key: format.privateKey, dsaEncoding: 'ieee-p1363' })
      : sign(null, Buffer.from(input), format.privateKey);
  return `${input}.${base64url(signature)}`;
}

/** The form body of a back-channel logout request. */
export function logoutBody(token: string): string {
  return new URLSearchParams({ logout_token: token }).toString();
}
