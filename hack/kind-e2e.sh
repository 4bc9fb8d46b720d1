#!/usr/bin/env bash
# `make kind-e2e`: the end-to-end tests against a real kind cluster, for machines with Docker.
#
# Creates a kind cluster, builds the image and loads it into the nodes, installs the chart
# (operator, CRDs, webhook), then runs the same tests/e2e suite with HEALTHGATE_E2E_KUBECONFIG
# pointing at the kind cluster instead of the local environment (kind mode, see
# tests/e2e/backends.py) and HEALTHGATE_E2E_SIDECAR_IMAGE naming the image the app containers run.
#
# Environment: CLUSTER (kind cluster name, default healthgate-e2e), IMAGE (default
# healthgate:e2e), KEEP=1 keeps the cluster afterwards, PYTHON (default .venv/bin/python),
# HEALTHGATE_E2E_REDIS_IMAGE (the tests' Redis, default redis:7-alpine, pulled by the node).
# Needs: docker, kind, kubectl, helm on PATH.
set -euo pipefail

CLUSTER="${CLUSTER:-healthgate-e2e}"
IMAGE="${IMAGE:-healthgate:e2e}"
PYTHON="${PYTHON:-.venv/bin/python}"
NAMESPACE=healthgate-system
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
WORK="$(mktemp -d)"
KUBECONFIG_FILE="${WORK}/kubeconfig"

for tool in docker kind kubectl helm; do
  command -v "${tool}" >/dev/null || { echo "kind-e2e: ${tool} is required" >&2; exit 2; }
done

cleanup() {
  if [[ "${KEEP:-0}" != 1 ]]; then
    kind delete cluster --name "${CLUSTER}" >/dev/null 2>&1 || true
  else
    echo "kind-e2e: kept cluster ${CLUSTER} (kubeconfig ${KUBECONFIG_FILE})"
  fi
}
trap cleanup EXIT

cd "${ROOT}"
if ! kind get clusters | grep -qx "${CLUSTER}"; then
  kind create cluster --name "${CLUSTER}" --wait 120s
fi
kind get kubeconfig --name "${CLUSTER}" >"${KUBECONFIG_FILE}"
export KUBECONFIG="${KUBECONFIG_FILE}"

docker build -t "${IMAGE}" .
kind load docker-image "${IMAGE}" --name "${CLUSTER}"

# The operator's namespace runs under Pod Security "restricted", like deploy/rbac.yaml's.
kubectl create namespace "${NAMESPACE}" --dry-run=client -o yaml | kubectl apply -f -
kubectl label namespace "${NAMESPACE}" --overwrite pod-security.kubernetes.io/enforce=restricted
helm upgrade --install healthgate charts/healthgate \
  --namespace "${NAMESPACE}" \
  --set image.repository="${IMAGE%:*}" \
  --set image.tag="${IMAGE##*:}" \
  --set image.pullPolicy=Never \
  --set statusIntervalSeconds=2 \
  --wait --timeout 180s
helm test healthgate --namespace "${NAMESPACE}" --timeout 120s
kubectl wait --for=condition=Established --timeout=60s crd/healthgates.healthgate.io

HEALTHGATE_E2E_KUBECONFIG="${KUBECONFIG_FILE}" \
HEALTHGATE_E2E_SIDECAR_IMAGE="${IMAGE}" \
  "${PYTHON}" -m pytest tests/e2e "$@"
