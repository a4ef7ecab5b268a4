/** Workloads the real-node tests and benchmarks run: pinpool's app image, no registry. */

export interface SlowStopOptions {
  name: string;
  replicas: number;
  /** How long each container takes to stop (a preStop sleep): it keeps its address meanwhile. */
  stopSeconds: number;
  annotations?: Record<string, string>;
}

/** A Deployment of the app image whose pods are ready once they serve, and take `stopSeconds` to stop. */
export function slowStopDeployment(o: SlowStopOptions): string {
  return JSON.stringify({
    apiVersion: "apps/v1",
    kind: "Deployment",
    metadata: { name: o.name },
    spec: {
      replicas: o.replicas,
      selector: { matchLabels: { app: o.name } },
      template: {
        metadata: { labels: { app: o.name }, annotations: o.annotations ?? {} },
        spec: {
          terminationGracePeriodSeconds: 30,
          containers: [
            {
              name: "web",
              image: "pinpool.local/httpd:1",
              imagePullPolicy: "Never",
              readinessProbe: { httpGet: { path: "/", port: 80 }, periodSeconds: 1 },
              lifecycle: { preStop: { exec: { command: ["sleep", String(o.stopSeconds)] } } },
            },
          ],
        },
      },
    },
  });
}
