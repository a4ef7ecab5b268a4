# Pinned versions of the local control plane, sourced by the cluster scripts.
# v1.37.2 is the newest Kubernetes the Go module proxy serves here; etcd v3.6.16 is the
# newest 3.6.x (kubeadm pairs 1.34+ with etcd 3.6).
K8S_VERSION="${K8S_VERSION:-v1.37.2}"
ETCD_VERSION="${ETCD_VERSION:-v3.6.16}"
# The sandbox (pause) image a real node's containerd runs: kubeadm's PauseVersion for 1.37,
# also containerd 2.3's default. Built from k8s.io/kubernetes' build/pause (scripts/images).
PAUSE_VERSION="${PAUSE_VERSION:-3.10.2}"
PAUSE_IMAGE="registry.k8s.io/pause:$PAUSE_VERSION"

# The cache folder for built binaries, outside the repository.
PINPOOL_CACHE="${PINPOOL_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/pinpool}"

pinpool_testbin_dir() {
  echo "$PINPOOL_CACHE/testbin/k8s-$K8S_VERSION-etcd-$ETCD_VERSION-$(GOTOOLCHAIN=local go env GOVERSION)"
}

# The real node's kubelet, built from the same module as the control plane.
pinpool_kubelet_dir() {
  echo "$PINPOOL_CACHE/node/kubelet-$K8S_VERSION-$(GOTOOLCHAIN=local go env GOVERSION)"
}
