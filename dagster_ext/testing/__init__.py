"""Testing support users can reuse: a local Kubernetes control plane with a
process-backed kubelet (`LocalCluster`) and pytest fixtures (`dagster_ext.testing.pytest_plugin`)."""
