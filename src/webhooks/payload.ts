/** The body of a notice's delivery: a thin JSON payload in the Standard Webhooks shape, never a token or session data. */
import type { SessionNotice } from '../core/outbox.js';

/** The JSON body of a `session.ended` delivery. */
export interface SessionEndedPayload {
  /** What happened. */
  type: 'session.ended';
  /** When the session ended (ISO 8601). */
  timestamp: string;
  /** The session. */
  data: {
    /** The session's public id. */
    id: string;
    /** Its user; null for an anonymous session. */
    subject: string | null;
    /** Why it ended: `logout`, `user`, `admin`, `evicted`, `expired`. */
    reason: string;
    /** When it ended (ISO 8601). */
    endedAt: string;
  };
}

/** The JSON body of a `session.created` delivery. */
export interface SessionCreatedPayload {
  /** What happened. */
  type: 'session.created';
  /** When the session was created (ISO 8601). */
  timestamp: string;
  /** The session. */
  data: {
    /** The session's public id. */
    id: string;
    /** Its user: null, since an anonymous session is created (a login is `session.logged_in`). */
    subject: string | null;
    /** When it was created (ISO 8601). */
    createdAt: string;
  };
}

/** The JSON body of a `session.logged_in` delivery. */
export interface SessionLoggedInPayload {
  /** What happened. */
  type: 'session.logged_in';
  /** When the session logged in (ISO 8601). */
  timestamp: string;
  /** The session. */
  data: {
    /** The session's public id (a login may give the session a new one). */
    id: string;
    /** The user who logged in. */
    subject: string | null;
    /** When (ISO 8601). */
    loggedInAt: string;
  };
}

/** The JSON body of a delivery, by its `type`. */
export type WebhookPayload = SessionEndedPayload | SessionCreatedPayload | SessionLoggedInPayload;

/** The payload a notice is delivered as. */
export function noticePayload(notice: SessionNotice): WebhookPayload {
  const at = new Date(notice.at).toISOString();
  const { sessionId: id, subject } = notice;
  switch (notice.type) {
    case 'session.ended':
      return { type: notice.type, timestamp: at, data: { id, subject, reason: notice.reason ?? 'expired', endedAt: at } };
    case 'session.created':
      return { type: notice.type, timestamp: at, data: { id, subject, createdAt: at } };
    case 'session.logged_in':
      return { type: notice.type, timestamp: at, data: { id, subject, loggedInAt: at } };
  }
}
