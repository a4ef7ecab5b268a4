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

/** The API server's own message from a failed call (its Status body), for error text. */
export function apiMessage(e: unknown): string {
  if (e instanceof ApiException) {
    const body = (e as ApiException<unknown>).body;
    if (typeof body === "string") {
      try {
        const parsed = JSON.parse(body) as { message?: string };
        if (parsed.message) return parsed.message;
      } catch {
        return body;
      }
    }
    if (body && typeof body === "object" && "message" in body) return String((body).message);
  }
  return e instanceof Error ? e.message : String(e);
}
