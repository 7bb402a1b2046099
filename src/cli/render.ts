/** How sessions look on the terminal and in `--json`: never a token, a secret hash or a data value. */
import type { SessionInfo } from '../core/index.js';

/** A data field as shown: its name and stored size. */
export interface FieldSize {
  name: string;
  bytes: number;
}

const iso = (ms: number | null): string | null => (ms === null ? null : new Date(ms).toISOString());

/** The admin API's session shape (times ISO 8601); `dataFields` only where the record was read. */
export function sessionJson(s: SessionInfo, fields?: FieldSize[]): Record<string, unknown> {
  return {
    id: s.id,
    subject: s.subject,
    displayName: s.displayName,
    createdAt: iso(s.createdAt),
    lastSeenAt: iso(s.lastSeenAt),
    expiresAt: iso(s.expiresAt),
    absoluteExpiresAt: iso(s.absoluteExpiresAt),
    ip: s.lastDevice.ip,
    userAgent: s.lastDevice.userAgent,
    createdIp: s.createdDevice.ip,
    createdUserAgent: s.createdDevice.userAgent,
    ...(fields !== undefined ? { dataFields: fields } : {}),
  };
}

/** Control characters out, so a user agent or display name cannot move the terminal's cursor. */
function clean(text: string | null, max = 40): string {
  if (text === null) return '-';
  // biome-ignore lint/suspicious/noControlCharactersInRegex: stripping them is the point
  const safe = text.replace(/[\u0000-\u001f\u007f-\u009f]/g, '?');
  return safe.length > max ? `${safe.slice(0, max - 1)}…` : safe;
}

const minute = (ms: number): string => new Date(ms).toISOString().slice(0, 16).replace('T', ' ');

/** A fixed-width table, one session a row. */
export function sessionTable(sessions: SessionInfo[]): string {
  const rows = [
    ['ID', 'SUBJECT', 'NAME', 'IP', 'CREATED', 'LAST SEEN', 'EXPIRES'],
    ...sessions.map((s) => [
      s.id,
      clean(s.subject),
      clean(s.displayName),
      clean(s.lastDevice.ip),
      minute(s.createdAt),
      minute(s.lastSeenAt),
      minute(s.expiresAt),
    ]),
  ];
  const widths = rows[0]?.map((_, i) => Math.max(...rows.map((r) => (r[i] ?? '').length))) ?? [];
  return rows
    .map((r) =>
      r
        .map((cell, i) => cell.padEnd(widths[i] ?? 0))
        .join('  ')
        .trimEnd(),
    )
    .join('\n');
}

/** `tessera sessions show`: one field a line. */
export function showLines(s: SessionInfo, fields: FieldSize[]): string {
  const lines: Array<[string, string]> = [
    ['id', s.id],
    ['subject', clean(s.subject, 200)],
    ['display name', clean(s.displayName, 200)],
    ['created', `${new Date(s.createdAt).toISOString()} from ${clean(s.createdDevice.ip)} ${clean(s.createdDevice.userAgent, 200)}`],
    ['last seen', `${new Date(s.lastSeenAt).toISOString()} from ${clean(s.lastDevice.ip)} ${clean(s.lastDevice.userAgent, 200)}`],
    ['expires', new Date(s.expiresAt).toISOString()],
    ['absolute expiry', new Date(s.absoluteExpiresAt).toISOString()],
    ['data', fields.length === 0 ? '(none)' : fields.map((f) => `${clean(f.name, 80)} (${f.bytes} B)`).join(', ')],
  ];
  return lines.map(([k, v]) => `${`${k}:`.padEnd(17)}${v}`).join('\n');
}
