#!/usr/bin/env bash
# Starts a real local control plane: etcd (tmpfs), kube-apiserver (loopback) and
# kube-controller-manager, then applies manifests/crds. Idempotent: when the cluster this
# checkout started is already running and ready, it does nothing. Prints the kubeconfig path.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

if [ -n "$(pid_of kube-apiserver)" ] && [ -n "$(pid_of etcd)" ] && [ -n "$(pid_of kube-controller-manager)" ] && apiserver_ready; then
  # Already running: only bring the CRDs up to date with this checkout (and the real node up).
  "$(testbin)/kubectl" --kubeconfig="$KUBECONFIG_PATH" apply -k "$repo_root/manifests/crds" >/dev/null
  if [ "$PINPOOL_NODE" = real ]; then
    [ -n "$(pid_of kube-scheduler)" ] || start_scheduler
    bash "$cluster_dir/node.sh" up
  fi
  echo "$KUBECONFIG_PATH"
  exit 0
fi
# A half-running cluster (one component died) is restarted from scratch.
bash "$cluster_dir/down.sh" >/dev/null 2>&1 || true

bash "$cluster_dir/deps.sh"
bin=$(bash "$cluster_dir/build.sh")
started=$(date +%s)
mkdir -p "$STATE_DIR"/{pki,logs,pids}
chmod 700 "$STATE_DIR"

# --- PKI: a CA, the API server's serving cert (IP SAN 127.0.0.1: Go does not fall back to
# the CN), an admin client cert in system:masters, and the service-account key pair.
pki="$STATE_DIR/pki"
(
  cd "$pki"
  openssl req -x509 -newkey rsa:2048 -nodes -days 3650 -keyout ca.key -out ca.crt -subj /CN=pinpool-local-ca \
    -addext basicConstraints=critical,CA:TRUE -addext keyUsage=critical,keyCertSign,cRLSign 2>/dev/null
  leaf() { # name subject extensions
    openssl req -newkey rsa:2048 -nodes -keyout "$1.key" -out "$1.csr" -subj "$2" 2>/dev/null
    printf '%s\n' "$3" >"$1.ext"
    openssl x509 -req -in "$1.csr" -CA ca.crt -CAkey ca.key -CAcreateserial -days 3650 -out "$1.crt" -extfile "$1.ext" 2>/dev/null
  }
  leaf apiserver /CN=kube-apiserver "subjectAltName=IP:127.0.0.1,IP:10.0.0.1,DNS:localhost,DNS:kubernetes,DNS:kubernetes.default,DNS:kubernetes.default.svc,DNS:kubernetes.default.svc.cluster.local
extendedKeyUsage=serverAuth"
  leaf admin "/O=system:masters/CN=pinpool-admin" "extendedKeyUsage=clientAuth"
  openssl genrsa -out sa.key 2048 2>/dev/null
  openssl rsa -in sa.key -pubout -out sa.pub 2>/dev/null
  chmod 600 ./*.key
)

cat >"$KUBECONFIG_PATH" <<YAML
apiVersion: v1
kind: Config
clusters:
  - name: pinpool-local
    cluster: { server: "https://127.0.0.1:$APISERVER_PORT", certificate-authority: "$pki/ca.crt" }
users:
  - name: pinpool-admin
    user: { client-certificate: "$pki/admin.crt", client-key: "$pki/admin.key" }
contexts:
  - name: pinpool-local
    context: { cluster: pinpool-local, user: pinpool-admin }
current-context: pinpool-local
YAML
chmod 600 "$KUBECONFIG_PATH"

# The API server's client certificate for pinpool's webhooks (mutual TLS, on by default),
# made as a kubeadm cluster gets it: the certificates of the install (manifests/certs, which
# `kubectl apply -k manifests` puts in the Secret) and scripts/kubeadm/webhook-client.sh. It
# is shown to the installed webhook's Service and to the local controller's URLs only.
certs="$repo_root/manifests/certs"
[ -f "$certs/client-ca.crt" ] && [ -f "$certs/tls.crt" ] || bash "$repo_root/webhook-certs/generate.sh" "$certs" >/dev/null
webhook_port=$((19443 + ${PINPOOL_LOCAL_PORT_OFFSET:-0})) # scripts/cluster/ports.ts
bash "$repo_root/scripts/kubeadm/webhook-client.sh" "$certs" "$STATE_DIR/admission" "$STATE_DIR/admission" \
  pinpool-webhook.pinpool-system.svc pinpool-webhook.pinpool-system.svc:443 "127.0.0.1:$webhook_port" "127.0.0.1:$((webhook_port + 1))" >/dev/null

start() { # name args...: a binary of the control plane
  local name=$1
  shift
  start_component "$name" "$bin/$name" "$@"
}

rm -rf "$ETCD_DATA_DIR"
start etcd --name=pinpool --data-dir="$ETCD_DATA_DIR" \
  --listen-client-urls="http://127.0.0.1:$ETCD_CLIENT_PORT" --advertise-client-urls="http://127.0.0.1:$ETCD_CLIENT_PORT" \
  --listen-peer-urls="http://127.0.0.1:$ETCD_PEER_PORT" --initial-advertise-peer-urls="http://127.0.0.1:$ETCD_PEER_PORT" \
  --initial-cluster="pinpool=http://127.0.0.1:$ETCD_PEER_PORT" --unsafe-no-fsync --log-level=warn
wait_for etcd 30 curl -fsS --max-time 2 "http://127.0.0.1:$ETCD_CLIENT_PORT/health" -o /dev/null 2>/dev/null

start kube-apiserver --etcd-servers="http://127.0.0.1:$ETCD_CLIENT_PORT" \
  --bind-address=127.0.0.1 --advertise-address=127.0.0.1 --secure-port="$APISERVER_PORT" \
  --tls-cert-file="$pki/apiserver.crt" --tls-private-key-file="$pki/apiserver.key" --client-ca-file="$pki/ca.crt" \
  --service-account-issuer=https://kubernetes.default.svc.cluster.local \
  --service-account-key-file="$pki/sa.pub" --service-account-signing-key-file="$pki/sa.key" \
  --service-cluster-ip-range=10.0.0.0/24 --authorization-mode=RBAC --allow-privileged=true \
  --enable-priority-and-fairness=false --v=1 --admission-control-config-file="$STATE_DIR/admission/admission.yaml" \
  --kubelet-client-certificate="$pki/admin.crt" --kubelet-client-key="$pki/admin.key" \
  --kubelet-preferred-address-types=InternalIP `# kubectl logs/exec on the real node` \
  --enable-aggregator-routing=true `# webhooks are dialled at their Service's endpoints: no kube-proxy here` \
  --endpoint-reconciler-type=none # a loopback advertise address is refused by the endpoint reconciler
wait_for kube-apiserver 90 apiserver_ready

# The controllers pinpool's workloads need. Node lifecycle and taint eviction stay off: the
# test nodes have no kubelet heartbeat. The API QPS is raised from 20 because the 1,000-pod
# benchmark would otherwise measure the controller-manager's client throttle.
start kube-controller-manager --kubeconfig="$KUBECONFIG_PATH" --leader-elect=false --secure-port=0 \
  --service-account-private-key-file="$pki/sa.key" --root-ca-file="$pki/ca.crt" \
  --kube-api-qps=300 --kube-api-burst=500 \
  --controllers=endpoints-controller,endpointslice-controller,deployment-controller,replicaset-controller,statefulset-controller,daemonset-controller,job-controller,namespace-controller,serviceaccount-controller,serviceaccount-token-controller,garbage-collector-controller,root-ca-certificate-publisher-controller,pod-garbage-collector-controller,disruption-controller

kubectl_() { "$bin/kubectl" --kubeconfig="$KUBECONFIG_PATH" "$@"; }
wait_for kube-controller-manager 60 kubectl_ get serviceaccount default -n default -o name >/dev/null 2>&1
kubectl_ apply -k "$repo_root/manifests/crds" >/dev/null
kubectl_ wait --for condition=Established --timeout=60s crd --all >/dev/null
if [ "$PINPOOL_NODE" = real ]; then
  # The scheduler places pods on the real node; the simulated nodes bind only pods that
  # name them (schedulerName pinpool-node-sim), so the two never race for a pod.
  start_scheduler
  bash "$cluster_dir/node.sh" up
fi
log "control plane ready in $(($(date +%s) - started))s; logs in $STATE_DIR/logs"
echo "$KUBECONFIG_PATH"
