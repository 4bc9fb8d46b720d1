"""A local Kubernetes node: the ONE emulated part of the local environment.

**Real:** etcd, kube-apiserver, kube-controller-manager and kube-scheduler (``tests/env/kube.py``);
the Node, Lease, Pod, ConfigMap and Secret objects; scheduling (kube-scheduler binds pods to this
node); Deployments, ReplicaSets and garbage collection; the HealthGate programs, which run as the
real ``healthgate-sidecar``/``healthgate-operator`` processes from the venv; the HTTP probes,
which are real requests to those processes; the Redis, PostgreSQL, ... they check.

**Emulated** (here, in place of a kubelet and a container runtime, neither of which can run on this
machine): containers are processes, not containers. In detail:

* the Node registers itself and keeps its Lease renewed (:mod:`.registration`);
* each pod gets its own loopback IP, 127.0.1.1 upward (all of 127/8 reaches ``lo``, so no
  network setup is needed) — there is no network namespace, so ports are shared per IP only;
* ConfigMap, Secret, downwardAPI and projected volumes are files with the kubelet's atomic
  ``..data`` layout, re-synced on change (:mod:`.volumes`); there are no mounts, so paths in a
  container's command, args and env that start with a ``mountPath`` are rewritten to the local
  directory (:mod:`.podspec`);
* only containers whose command is a HealthGate program run (as local processes bound to the pod
  IP, :mod:`.containers`); any other container ("app" images) is only *reported* running and
  ready, and its probes are not executed; a regular init container that is not a HealthGate
  program is reported completed;
* startup, liveness and readiness probes of the processes run as the kubelet runs them
  (:mod:`.probes`), with the native-sidecar ordering and the status written back as the kubelet
  writes it (:mod:`.pods`, :mod:`.status`);
* the kubelet's Events (Started, Unhealthy, Killing, BackOff, Failed) are recorded
  (:mod:`.events`), so ``kubectl describe pod`` tells the usual story;
* not emulated: images, resource limits and ``resourceFieldRef``, cgroups, service-account
  tokens in files, ``grpc`` probes (counted as success), in-place changes of a running pod's
  spec, ``kubectl logs``/``exec`` (read ``<workdir>/logs/<ns>_<pod>_<uid>/<container>/<n>.log``
  instead), Services' cluster IPs and kube-proxy. A restarted node re-runs the pods bound to it
  (same IPs when free) with restart counts from zero.

Run it with ``python -m tests.env.node`` or :class:`tests.env.node.launcher.LocalNode`.
"""
