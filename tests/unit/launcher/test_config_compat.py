"""`module: dagster_k8s` → `module: dagster_ext.k8s` must be the only change a user makes."""

from __future__ import annotations

from typing import Any

import yaml
from dagster._config import process_config
from dagster._config.field_utils import convert_potential_field
from dagster_k8s import K8sRunLauncher as PeerLauncher

from dagster_ext.k8s import K8sRunLauncher

# A dagster-k8s launcher config that sets every key dagster-k8s knows.
EVERY_PEER_KEY = yaml.safe_load(
    """
job_image: repo/image:1.0
image_pull_policy: Always
image_pull_secrets: [{name: regcred}]
service_account_name: dagster
env_config_maps: [dagster-env]
env_secrets: [dagster-secret-env]
env_vars: ["USER=ssup2", "FROM_PROCESS"]
volume_mounts: [{name: data, mount_path: /data, read_only: true, sub_path: x}]
volumes: [{name: data, empty_dir: {}}]
labels: {team: data}
resources: {limits: {cpu: 2000m, memory: 4096Mi}, requests: {cpu: 2000m, memory: 4096Mi}}
scheduler_name: my-scheduler
security_context: {run_as_user: 1000}
instance_config_map: dagster-instance
postgres_password_secret: dagster-postgresql-secret
dagster_home: /opt/dagster/dagster_home
load_incluster_config: false
kubeconfig_file: /tmp/kubeconfig
k8s_api_ssl_ca_cert_file: /tmp/ca.crt
fail_pod_on_run_failure: true
run_k8s_config:
  container_config: {resources: {limits: {cpu: "1"}}}
  pod_template_spec_metadata: {annotations: {a: b}}
  pod_spec_config: {nodeSelector: {node-group.dp.ssup2: worker}}
  job_config: {}
  job_metadata: {labels: {x: y}}
  job_spec_config: {activeDeadlineSeconds: 3600}
job_namespace: dagster
only_allow_user_defined_k8s_config_fields:
  container_config: {resources: true}
  pod_spec_config: {node_selector: true}
only_allow_user_defined_env_vars: [USER]
"""
)


def _schema(cls: Any) -> Any:
    return convert_potential_field(cls.config_type()).config_type


def test_every_peer_key_is_ours() -> None:
    theirs = set(PeerLauncher.config_type())
    assert theirs == set(EVERY_PEER_KEY), "the fixture must cover every dagster-k8s key"
    assert theirs <= set(K8sRunLauncher.config_type())


def test_a_config_valid_for_the_peer_is_valid_for_us() -> None:
    peer = process_config(_schema(PeerLauncher), EVERY_PEER_KEY)
    assert peer.success, peer.errors
    ours = process_config(_schema(K8sRunLauncher), EVERY_PEER_KEY)
    assert ours.success, ours.errors


def test_schema_and_constructor_agree_on_every_key() -> None:
    processed = process_config(_schema(K8sRunLauncher), EVERY_PEER_KEY)
    launcher = K8sRunLauncher.from_config_value(None, processed.value)  # type: ignore[arg-type]
    for key in K8sRunLauncher.config_type():
        assert key in launcher.config, key
    for key in EVERY_PEER_KEY:
        assert getattr(launcher, key) == processed.value[key], key
    assert launcher.job_namespace == "dagster"


def test_defaults_match_the_peer() -> None:
    ours = process_config(_schema(K8sRunLauncher), {"instance_config_map": "x"}).value
    theirs = process_config(_schema(PeerLauncher), {"instance_config_map": "x"}).value
    for key, value in theirs.items():
        assert ours[key] == value, key
