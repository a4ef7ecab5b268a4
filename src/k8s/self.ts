/** Who this process is to the API server. */
import * as k8s from "@kubernetes/client-node";

/**
 * The user name the API server gives this process's credentials (a SelfSubjectReview, which
 * every authenticated user may create), or undefined when it cannot say: callers must then
 * treat every writer as someone else.
 */
export async function ownUserName(kc: k8s.KubeConfig): Promise<string | undefined> {
  try {
    const review = await kc.makeApiClient(k8s.AuthenticationV1Api).createSelfSubjectReview({ body: { apiVersion: "authentication.k8s.io/v1", kind: "SelfSubjectReview" } });
    return review.status?.userInfo?.username;
  } catch {
    return undefined;
  }
}
