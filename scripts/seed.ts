/**
 * The seed walkthrough's manifests (Spiderpool's "fixed IP" blog post), shared by the demo
 * and the real-node e2e test.
 *
 * The blog's YAML has two typos that no kubectl accepts (`-name: nginx` for `- name: nginx`,
 * and the SpiderIPPool's `spec` indented under `metadata`); they are fixed here, nothing else.
 */
export const SUBNET = `apiVersion: spiderpool.spidernet.io/v2beta1
kind: SpiderSubnet
metadata:
  name: nginx-subnet-v4
spec:
  subnet: 10.244.0.0/16
  ips:
  - 10.244.100.90-10.244.200.91
`;

export const NGINX = `apiVersion: apps/v1
kind: Deployment
metadata:
  name: nginx
spec:
  replicas: 2
  selector:
    matchLabels:
      app: nginx
  template:
    metadata:
      annotations:
        ipam.spidernet.io/subnet: '{"ipv4":["nginx-subnet-v4"]}'
        ipam.spidernet.io/ippool-ip-number: '+3'
      labels:
        app: nginx
    spec:
      containers:
      - name: nginx
        image: nginx
        imagePullPolicy: IfNotPresent
        ports:
        - name: http
          containerPort: 80
          protocol: TCP
`;

export const POOL = `apiVersion: spiderpool.spidernet.io/v2beta1
kind: SpiderIPPool
metadata:
  name: nginx-v4-ippool
spec:
  ipVersion: 4
  subnet: 10.244.0.0/16
  ips:
  - 10.244.120.10-10.244.120.20
`;

export const OVERLAPPING = POOL.replace("name: nginx-v4-ippool", "name: nginx-v4-ippool-2").replace("10.244.120.10-10.244.120.20", "10.244.120.18-10.244.120.30");

export const NGINX_M = `apiVersion: apps/v1
kind: Deployment
metadata:
  name: nginx-m
spec:
  replicas: 2
  selector:
    matchLabels:
      app: nginx
  template:
    metadata:
      annotations:
        ipam.spidernet.io/ippool: '{"ipv4":["nginx-v4-ippool"]}'
      labels:
        app: nginx
    spec:
      containers:
      - name: nginx
        image: nginx
        imagePullPolicy: IfNotPresent
        ports:
        - name: http
          containerPort: 80
          protocol: TCP
`;
