/**
 * The admission.k8s.io/v1 wire format: parsing a request strictly (every malformed review
 * gets an error naming the field, the value and what is allowed) and the one builder of
 * responses (uid echoed; patch and patchType both or neither).
 */
import type { Verdict } from "../api/verdict.js";

export type AdmissionOperation = "CREATE" | "UPDATE" | "DELETE" | "CONNECT";

export interface GroupVersionResource {
  group: string;
  version: string;
  resource: string;
}

export interface AdmissionRequest {
  uid: string;
  kind: { group: string; version: string; kind: string };
  resource: GroupVersionResource;
  subResource?: string;
  name?: string;
  namespace?: string;
  operation: AdmissionOperation;
  userInfo?: { username?: string; groups?: string[] };
  /** The object as it would be stored; null on DELETE. */
  object: Record<string, unknown> | null;
  /** The stored object; null on CREATE. */
  oldObject: Record<string, unknown> | null;
  dryRun: boolean;
}

export class AdmissionFormatError extends Error {
  override name = "AdmissionFormatError";
}

const OPERATIONS: readonly AdmissionOperation[] = ["CREATE", "UPDATE", "DELETE", "CONNECT"];

function field<T>(obj: Record<string, unknown>, path: string, check: (v: unknown) => v is T, allowed: string): T {
  const v = obj[path.split(".").pop() as string];
  if (!check(v)) {
    throw new AdmissionFormatError(`AdmissionReview ${path}: got ${JSON.stringify(v) ?? "nothing"}, expected ${allowed}`);
  }
  return v;
}

const isString = (v: unknown): v is string => typeof v === "string";
const isNonEmptyString = (v: unknown): v is string => typeof v === "string" && v.length > 0;
const isObject = (v: unknown): v is Record<string, unknown> => typeof v === "object" && v !== null && !Array.isArray(v);
const isObjectOrNull = (v: unknown): v is Record<string, unknown> | null => v === null || v === undefined || isObject(v);

/** Parses and checks a request body; throws AdmissionFormatError naming what is wrong. */
export function parseAdmissionReview(body: unknown): AdmissionRequest {
  if (!isObject(body)) {
    throw new AdmissionFormatError(`AdmissionReview: expected a JSON object, got ${body === null ? "null" : typeof body}`);
  }
  if (body.apiVersion !== "admission.k8s.io/v1" || body.kind !== "AdmissionReview") {
    throw new AdmissionFormatError(
      `AdmissionReview apiVersion/kind: got ${JSON.stringify(body.apiVersion)}/${JSON.stringify(body.kind)}, expected "admission.k8s.io/v1"/"AdmissionReview"`,
    );
  }
  const request = field(body, "request", isObject, "an object");
  const kind = field(request, "request.kind", isObject, "{group, version, kind}");
  const resource = field(request, "request.resource", isObject, "{group, version, resource}");
  const operation = field(
    request,
    "request.operation",
    (v): v is AdmissionOperation => OPERATIONS.includes(v as AdmissionOperation),
    OPERATIONS.join(", "),
  );
  const parsed: AdmissionRequest = {
    uid: field(request, "request.uid", isNonEmptyString, "a non-empty string"),
    kind: {
      group: field(kind, "request.kind.group", isString, "a string"),
      version: field(kind, "request.kind.version", isNonEmptyString, "a non-empty string"),
      kind: field(kind, "request.kind.kind", isNonEmptyString, "a non-empty string"),
    },
    resource: {
      group: field(resource, "request.resource.group", isString, "a string"),
      version: field(resource, "request.resource.version", isNonEmptyString, "a non-empty string"),
      resource: field(resource, "request.resource.resource", isNonEmptyString, "a non-empty string"),
    },
    operation,
    object: field(request, "request.object", isObjectOrNull, "an object or null") ?? null,
    oldObject: field(request, "request.oldObject", isObjectOrNull, "an object or null") ?? null,
    dryRun: request.dryRun === true,
  };
  for (const key of ["subResource", "name", "namespace"] as const) {
    const v = request[key];
    if (v !== undefined && v !== "") parsed[key] = field(request, `request.${key}`, isString, "a string");
  }
  if (isObject(request.userInfo)) parsed.userInfo = request.userInfo;
  if ((operation === "CREATE" || operation === "UPDATE") && !parsed.object) {
    throw new AdmissionFormatError(`AdmissionReview request.object: missing on ${operation}, expected the object`);
  }
  if ((operation === "UPDATE" || operation === "DELETE") && !parsed.oldObject) {
    throw new AdmissionFormatError(`AdmissionReview request.oldObject: missing on ${operation}, expected the stored object`);
  }
  return parsed;
}

export interface AdmissionReviewResponse {
  apiVersion: "admission.k8s.io/v1";
  kind: "AdmissionReview";
  response: {
    uid: string;
    allowed: boolean;
    status?: { code: number; message: string; reason?: string };
    patchType?: "JSONPatch";
    patch?: string;
    warnings?: string[];
  };
}

/** Status reasons kubectl shows as "Error from server (<reason>)". */
const REASONS: Record<number, string> = { 400: "BadRequest", 403: "Forbidden", 404: "NotFound", 409: "Conflict", 422: "Invalid", 500: "InternalError" };

/** The one builder of admission responses. */
export function buildAdmissionReview(uid: string, verdict: Verdict): AdmissionReviewResponse {
  if (!verdict.allowed) {
    return {
      apiVersion: "admission.k8s.io/v1",
      kind: "AdmissionReview",
      response: {
        uid,
        allowed: false,
        status: { code: verdict.code, message: verdict.message, reason: verdict.reason ?? REASONS[verdict.code] ?? "Forbidden" },
      },
    };
  }
  return {
    apiVersion: "admission.k8s.io/v1",
    kind: "AdmissionReview",
    response: {
      uid,
      allowed: true,
      ...(verdict.patch && verdict.patch.length > 0
        ? { patchType: "JSONPatch" as const, patch: Buffer.from(JSON.stringify(verdict.patch)).toString("base64") }
        : {}),
      ...(verdict.warnings && verdict.warnings.length > 0 ? { warnings: verdict.warnings } : {}),
    },
  };
}
