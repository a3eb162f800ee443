"""A process-backed kubelet for the local test cluster.

It registers one Node, acts as the scheduler for pods that fit it, and runs each bound pod's
containers as local processes (host Python environment, no images), reporting pod status,
Events and logs the way a real kubelet does. See `docs/kubelet.md`.

Layers: pure modules (`quantity`, `expansion`, `podspec`, `scheduling`, `status`, `nodeinfo`)
know nothing about I/O; `gateway` is the only module that talks to the API; `runtime`,
`memory`, `volumes` and `logfiles` touch the local machine; `worker`, `supervisor`,
`binding` and `service` wire them together.
"""
