#!/usr/bin/env bash
# Gives a kubeadm-style API server the client certificate pinpool's webhook asks for (mutual
# TLS, on by default). From the certificates of webhook-certs/generate.sh it writes, in OUT_DIR:
#
#   apiserver-client.crt/.key   the certificate (CN pinpool-webhook-client) and its key
#   webhook-client.kubeconfig   which certificate the API server shows to which webhook host
#   admission.yaml              the AdmissionConfiguration naming that kubeconfig
#                               (kube-apiserver --admission-control-config-file)
#   patches/kube-apiserver+json.yaml   a kubeadm patch: the flag, and DEST_DIR mounted read-only
#
#   scripts/kubeadm/webhook-client.sh CERTS_DIR OUT_DIR [DEST_DIR] [WEBHOOK_HOST...]
#
# DEST_DIR (default /etc/kubernetes/pinpool) is where the files will sit on every
# control-plane node; the generated files name it. WEBHOOK_HOST: the hosts the certificate is
# shown to (default: pinpool's Service, pinpool-webhook.pinpool-system.svc, with and without
# :443). Never "*": that would show it to every webhook in the cluster, and any of them could
# then pass for the API server to pinpool. Then, on each control-plane node:
#
#   install -d -m 0700 DEST_DIR && cp OUT_DIR/{admission.yaml,webhook-client.kubeconfig,apiserver-client.*} DEST_DIR/
#   kubeadm init --patches OUT_DIR/patches ...        (a new cluster)
#   kubeadm upgrade node --patches OUT_DIR/patches    (an existing one; or add the flag and
#                                                      the volume to /etc/kubernetes/manifests/kube-apiserver.yaml)
#
# An API server that already has --admission-control-config-file (PodSecurity, EventRateLimit
# settings): add the two plugins of admission.yaml to that file instead of using the patch.
set -euo pipefail
if [ $# -lt 2 ]; then
  echo "usage: $0 CERTS_DIR OUT_DIR [DEST_DIR] [WEBHOOK_HOST...]   (CERTS_DIR: the output of webhook-certs/generate.sh)" >&2
  exit 2
fi
certs=$1 out=$2 dest=${3:-/etc/kubernetes/pinpool}
shift $(($# < 3 ? $# : 3))
hosts=("$@")
[ ${#hosts[@]} -gt 0 ] || hosts=(pinpool-webhook.pinpool-system.svc pinpool-webhook.pinpool-system.svc:443)
for f in client-ca.crt apiserver-client.crt apiserver-client.key; do
  [ -f "$certs/$f" ] || { echo "$0: $certs/$f is missing; run webhook-certs/generate.sh $certs first" >&2; exit 1; }
done
openssl verify -CAfile "$certs/client-ca.crt" "$certs/apiserver-client.crt" >/dev/null ||
  { echo "$0: $certs/apiserver-client.crt is not signed by $certs/client-ca.crt; rerun webhook-certs/generate.sh $certs" >&2; exit 1; }
case "$dest" in /*) ;; *) echo "$0: DEST_DIR must be an absolute path (the API server reads it), got $dest" >&2; exit 2 ;; esac
for h in "${hosts[@]}"; do
  [ "$h" != "*" ] || { echo "$0: WEBHOOK_HOST \"*\" would show pinpool's client certificate to every webhook; name pinpool's" >&2; exit 2; }
done

mkdir -p "$out/patches"
umask 077
[ "$(cd "$certs" && pwd)" = "$(cd "$out" && pwd)" ] || cp "$certs/apiserver-client.crt" "$certs/apiserver-client.key" "$out/"
{
  echo "apiVersion: v1"
  echo "kind: Config"
  echo "users:"
  for h in "${hosts[@]}"; do
    echo "  - name: \"$h\""
    echo "    user: { client-certificate: \"$dest/apiserver-client.crt\", client-key: \"$dest/apiserver-client.key\" }"
  done
} >"$out/webhook-client.kubeconfig"
cat >"$out/admission.yaml" <<YAML
apiVersion: apiserver.config.k8s.io/v1
kind: AdmissionConfiguration
plugins:
  - name: ValidatingAdmissionWebhook
    configuration: { apiVersion: apiserver.config.k8s.io/v1, kind: WebhookAdmissionConfiguration, kubeConfigFile: "$dest/webhook-client.kubeconfig" }
  - name: MutatingAdmissionWebhook
    configuration: { apiVersion: apiserver.config.k8s.io/v1, kind: WebhookAdmissionConfiguration, kubeConfigFile: "$dest/webhook-client.kubeconfig" }
YAML
cat >"$out/patches/kube-apiserver+json.yaml" <<YAML
- op: add
  path: /spec/containers/0/command/-
  value: --admission-control-config-file=$dest/admission.yaml
- op: add
  path: /spec/containers/0/volumeMounts/-
  value: { name: pinpool-webhook-client, mountPath: $dest, readOnly: true }
- op: add
  path: /spec/volumes/-
  value: { name: pinpool-webhook-client, hostPath: { path: $dest, type: Directory } }
YAML
chmod 644 "$out/admission.yaml" "$out/patches/kube-apiserver+json.yaml"
echo "$out"
