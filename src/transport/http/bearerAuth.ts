import { timingSafeEqual } from "node:crypto";
import type { IncomingMessage } from "node:http";

/**
 * A check of `Authorization: Bearer <token>` (the scheme in any case, RFC 7235 section 2.1),
 * compared in constant time; every request passes when `token` is undefined.
 */
export function bearerAuth(token: string | undefined): (req: IncomingMessage) => boolean {
  if (token === undefined) return () => true;
  const want = Buffer.from(token);
  return (req) => {
    const m = /^bearer +(\S+) *$/i.exec(req.headers.authorization ?? "");
    if (m === null) return false;
    const given = Buffer.from(m[1] as string);
    return given.length === want.length && timingSafeEqual(given, want);
  };
}

/** The headers of a 401 for a missing or wrong token. */
export const BEARER_CHALLENGE = { "WWW-Authenticate": 'Bearer realm="splitwatt"' } as const;
