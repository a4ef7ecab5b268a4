#!/usr/bin/env bash
# Makes the webhooks' CA and serving certificate: SANs for the in-cluster Service
# (pinpool-webhook.<namespace>.svc and friends) and for 127.0.0.1/localhost (the local
# cluster calls the webhook by URL). Prints the output folder: ca.crt, tls.crt, tls.key.
#
# Mutual TLS (on by default): also a client CA (client-ca.crt, client-ca.key) and the API
# server's webhook client certificate signed by it (apiserver-client.crt/.key, CN
# pinpool-webhook-client). The webhook answers only that certificate; hand it to the API
# server with scripts/kubeadm/webhook-client.sh. Both are kept across runs (made when
# missing, or when the certificate no longer verifies against the CA).
#
#   webhook-certs/generate.sh [OUT_DIR] [NAMESPACE]     (defaults: webhook-certs/out, pinpool-system)
#
# The API server checks the chain against the webhook configurations' caBundle; fill it
# with `base64 -w0 OUT_DIR/ca.crt` (scripts/cluster/controller.ts does, locally). Certificates last
# 825 days; rerun before expiry (an expired serving cert with failurePolicy Fail is an
# outage). For cert-manager instead, see webhook-certs/README.md.
set -euo pipefail
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
out=${1:-$here/out}
ns=${2:-pinpool-system}
svc=pinpool-webhook
mkdir -p "$out"
cd "$out"
umask 077
if [ ! -f ca.key ]; then
  openssl req -x509 -newkey rsa:2048 -nodes -days 3650 -keyout ca.key -out ca.crt -subj "/CN=pinpool-webhook-ca" \
    -addext basicConstraints=critical,CA:TRUE -addext keyUsage=critical,keyCertSign,cRLSign 2>/dev/null
fi
openssl req -newkey rsa:2048 -nodes -keyout tls.key.new -out tls.csr -subj "/CN=$svc.$ns.svc" 2>/dev/null
cat >tls.ext <<EXT
subjectAltName=DNS:$svc,DNS:$svc.$ns,DNS:$svc.$ns.svc,DNS:$svc.$ns.svc.cluster.local,DNS:localhost,IP:127.0.0.1
extendedKeyUsage=serverAuth
keyUsage=critical,digitalSignature,keyEncipherment
EXT
openssl x509 -req -in tls.csr -CA ca.crt -CAkey ca.key -CAcreateserial -days 825 -out tls.crt.new -extfile tls.ext 2>/dev/null
# Replace both files together, so a watching server never reads a key with the wrong cert.
mv tls.key.new tls.key
mv tls.crt.new tls.crt
rm -f tls.csr tls.ext
if [ ! -f client-ca.key ]; then
  openssl req -x509 -newkey rsa:2048 -nodes -days 3650 -keyout client-ca.key -out client-ca.crt -subj "/CN=pinpool-webhook-client-ca" \
    -addext basicConstraints=critical,CA:TRUE -addext keyUsage=critical,keyCertSign,cRLSign 2>/dev/null
fi
if ! openssl verify -CAfile client-ca.crt apiserver-client.crt >/dev/null 2>&1; then
  openssl req -newkey rsa:2048 -nodes -keyout apiserver-client.key -out client.csr -subj "/CN=pinpool-webhook-client" 2>/dev/null
  printf 'extendedKeyUsage=clientAuth\nkeyUsage=critical,digitalSignature,keyEncipherment\n' >client.ext
  openssl x509 -req -in client.csr -CA client-ca.crt -CAkey client-ca.key -CAcreateserial -days 825 -out apiserver-client.crt -extfile client.ext 2>/dev/null
  rm -f client.csr client.ext
fi
chmod 644 ca.crt tls.crt client-ca.crt apiserver-client.crt
echo "$out"
