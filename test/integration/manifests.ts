/** Manifests the integration tests apply with kubectl, in the seed's shape. */
/** Rows of `kubectl get`, columns split on runs of spaces. */
export function rows(text: string): string[][] {
  return text.trim().split("\n").map((line) => line.trim().split(/\s{2,}/));
}

export const subnetYaml = (name: string, cidr: string, ips: string, extra = ""): string => `apiVersion: spiderpool.spidernet.io/v2beta1
kind: SpiderSubnet
metadata:
  name: ${name}
spec:
  subnet: ${cidr}
  ips: ["${ips}"]
${extra}`;

export const poolYaml = (name: string, cidr: string, ips: string, extra = ""): string => `apiVersion: spiderpool.spidernet.io/v2beta1
kind: SpiderIPPool
metadata:
  name: ${name}
spec:
  ipVersion: 4
  subnet: ${cidr}
  ips:
  - ${ips}
${extra}`;

export const deploymentYaml = (name: string, replicas: number, annotations: Record<string, string>): string => `apiVersion: apps/v1
kind: Deployment
metadata:
  name: ${name}
spec:
  replicas: ${replicas}
  selector:
    matchLabels:
      app: ${name}
  template:
    metadata:
      annotations: ${JSON.stringify(annotations)}
      labels:
        app: ${name}
    spec:
      containers:
      - name: nginx
        image: nginx
        imagePullPolicy: IfNotPresent
`;

export const seedAnnotations = { "ipam.spidernet.io/subnet": '{"ipv4":["nginx-subnet-v4"]}', "ipam.spidernet.io/ippool-ip-number": "+3" };

/**
 * A ValidatingAdmissionPolicy (and its binding) named `name` that refuses `operation` on
 * `resource` when `expression` is false, with the message "refused by the test policy":
 * the later admission step that refuses what pinpool's webhook allowed.
 */
export const refusingPolicyYaml = (name: string, rule: { group: string; version: string; resource: string; operation: string }, expression: string): string => `apiVersion: admissionregistration.k8s.io/v1
kind: ValidatingAdmissionPolicy
metadata: { name: ${name} }
spec:
  failurePolicy: Fail
  matchConstraints:
    resourceRules: [{ apiGroups: ["${rule.group}"], apiVersions: ["${rule.version}"], operations: ["${rule.operation}"], resources: ["${rule.resource}"] }]
  validations:
  - expression: ${JSON.stringify(expression)}
    message: refused by the test policy
---
apiVersion: admissionregistration.k8s.io/v1
kind: ValidatingAdmissionPolicyBinding
metadata: { name: ${name} }
spec: { policyName: ${name}, validationActions: [Deny] }
`;
