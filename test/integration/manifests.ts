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
