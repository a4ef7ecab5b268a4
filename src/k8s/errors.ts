import { STATUS_CODES } from "node:http";
import { ApiException } from "@kubernetes/client-node";

/** The HTTP status of a failed API call, or undefined for any other error. */
export function apiStatus(e: unknown): number | undefined {
  return e instanceof ApiException ? (e as ApiException<unknown>).code : undefined;
}

export const isNotFound = (e: unknown): boolean => apiStatus(e) === 404;
export const isConflict = (e: unknown): boolean => apiStatus(e) === 409;

/** The object `read` returns, or undefined when the API server says it does not exist (404). */
export async function orUndefined<T>(read: Promise<T>): Promise<T | undefined> {
  try {
    return await read;
  } catch (e) {
    if (isNotFound(e)) return undefined;
    throw e;
  }
}

/** The parts of a metav1.Status body pinpool reads. */
export interface ApiStatusBody {
  reason?: string;
  message?: string;
  details?: { retryAfterSeconds?: number };
}

/**
 * The Status body of a failed call. client-node 1.4 keeps it as the response text (a
 * string) for statuses its spec does not list, which is all of them but 2xx and 401.
 */
export function statusBody(e: ApiException<unknown>): ApiStatusBody | undefined {
  const body = e.body;
  if (typeof body === "string") {
    try {
      const parsed = JSON.parse(body) as unknown;
      return parsed && typeof parsed === "object" ? parsed : undefined;
    } catch {
      return undefined;
    }
  }
  return body && typeof body === "object" ? body : undefined;
}

/** At most `max` characters of the first line: a proxy's HTML error page must not become a message. */
const firstLine = (text: string, max = 200): string => {
  const line = text.trim().split("\n", 1)[0] ?? "";
  return line.length > max ? `${line.slice(0, max)}…` : line;
};

/**
 * The API server's own message from a failed call (its Status body), for error text. Never
 * the ApiException's message, which is client-node's dump of the body and every header.
 */
export function apiMessage(e: unknown): string {
  if (e instanceof ApiException) {
    const ae = e as ApiException<unknown>;
    const message = statusBody(ae)?.message;
    if (message) return message;
    if (typeof ae.body === "string" && ae.body.trim()) return firstLine(ae.body);
    return STATUS_CODES[ae.code] ?? `HTTP ${ae.code}`;
  }
  return e instanceof Error ? e.message : String(e);
}

/** The status reason: the Status body's (`TooManyRequests`, `Conflict`), else HTTP's own words. */
export function apiReason(e: ApiException<unknown>): string {
  return statusBody(e)?.reason || (STATUS_CODES[e.code] ?? "Unknown").replace(/ /g, "");
}

/**
 * A failed call in one line: `HTTP 409 Conflict: Operation cannot be fulfilled on …`
 * (status, reason and the API server's message; no headers, no body dump).
 */
export function describeApiError(e: ApiException<unknown>): string {
  const message = statusBody(e)?.message ?? (typeof e.body === "string" && e.body.trim() ? firstLine(e.body) : undefined);
  return `HTTP ${e.code} ${apiReason(e)}${message ? `: ${message}` : ""}`;
}
