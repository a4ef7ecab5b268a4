/** The reconcilers' ways of acting on the API server, each tolerant of the races a sweep expects. */
import type * as k8s from "@kubernetes/client-node";
import type { ObjectMeta } from "../api/types.js";
import { isConflict, isNotFound } from "../k8s/errors.js";

/** Runs `write`; a 409 or 404 (someone else changed or deleted the object) leaves it to the next sweep. */
export async function unlessRaced(write: Promise<unknown>): Promise<boolean> {
  try {
    await write;
    return true;
  } catch (e) {
    if (isConflict(e) || isNotFound(e)) return false;
    throw e;
  }
}

/** An event about a cluster-scoped Spider object (kept in "default", where kubectl describe looks). */
export async function recordEvent(
  core: k8s.CoreV1Api,
  object: { apiVersion: string; kind: string; metadata: ObjectMeta },
  event: { reason: string; message: string; type: "Normal" | "Warning" },
): Promise<void> {
  const now = new Date();
  await core.createNamespacedEvent({
    namespace: "default",
    body: {
      metadata: { generateName: `${object.metadata.name}.` },
      involvedObject: { apiVersion: object.apiVersion, kind: object.kind, name: object.metadata.name, uid: object.metadata.uid },
      ...event,
      source: { component: "pinpool-controller" },
      firstTimestamp: now,
      lastTimestamp: now,
      count: 1,
    },
  });
}
