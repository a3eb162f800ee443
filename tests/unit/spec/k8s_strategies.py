"""Hypothesis strategies for valid `dagster-k8s/config` values (shared by the property and
compatibility tests).
"""

from __future__ import annotations

import string
from typing import Any

from hypothesis import strategies as st

from dagster_ext.k8s.spec import K8sConfig, parse_k8s_config

label_values = st.from_regex(r"[a-z0-9]([-a-z0-9_.]{0,10}[a-z0-9])?", fullmatch=True)
label_keys = st.from_regex(r"([a-z]{1,5}\.[a-z]{2,3}/)?[a-z]([-a-z0-9]{0,8}[a-z0-9])?", fullmatch=True)
names = st.from_regex(r"[a-z]([-a-z0-9]{0,6}[a-z0-9])?", fullmatch=True)
env_names = st.from_regex(r"[A-Z][A-Z0-9_]{0,6}", fullmatch=True)
quantities = st.sampled_from(["1", "250m", "500m", "2", "1Gi", "512Mi", "4096Mi"])
# mounts refer to these; a test rendering whole pods defines them in a base layer
MOUNTED_VOLUMES = ["data-a", "data-b"]
small_text = st.text(alphabet=string.ascii_letters + string.digits + " -_/", max_size=12)


def unique_list(
    strategy: st.SearchStrategy[dict[str, Any]], key: str
) -> st.SearchStrategy[list[dict[str, Any]]]:
    return st.lists(strategy, max_size=3, unique_by=lambda item: item[key])


def _toleration_key(item: Any) -> tuple[str, str]:
    return item["key"], item["operator"]


env = unique_list(st.fixed_dictionaries({"name": env_names, "value": small_text}), "name")
resources = st.fixed_dictionaries(
    {}, optional={"limits": st.dictionaries(st.sampled_from(["cpu", "memory"]), quantities, max_size=2)}
)
container_config = st.fixed_dictionaries(
    {},
    optional={
        "image": st.sampled_from(["busybox", "img:1", "ghcr.io/x/y:2"]),
        "args": st.lists(small_text, max_size=3),
        "env": env,
        "resources": resources,
        "volumeMounts": unique_list(
            st.fixed_dictionaries(
                {"name": st.sampled_from(MOUNTED_VOLUMES), "mountPath": st.sampled_from(["/a", "/b", "/c"])}
            ),
            "mountPath",
        ),
        "workingDir": st.sampled_from(["/app", "/tmp"]),
    },
)
pod_spec_config = st.fixed_dictionaries(
    {},
    optional={
        "nodeSelector": st.dictionaries(label_keys, label_values, max_size=3),
        "tolerations": st.lists(
            st.fixed_dictionaries({"key": names, "operator": st.sampled_from(["Exists", "Equal"])}),
            max_size=3,
            unique_by=_toleration_key,
        ),
        "volumes": unique_list(st.fixed_dictionaries({"name": names, "emptyDir": st.just({})}), "name"),
        "imagePullSecrets": unique_list(st.fixed_dictionaries({"name": names}), "name"),
        "serviceAccountName": names,
        "priorityClassName": names,
    },
)
metadata = st.fixed_dictionaries(
    {},
    optional={
        "labels": st.dictionaries(label_keys, label_values, max_size=3),
        "annotations": st.dictionaries(label_keys, small_text, max_size=2),
    },
)
job_spec_config = st.fixed_dictionaries(
    {}, optional={"backoffLimit": st.integers(0, 5), "activeDeadlineSeconds": st.integers(1, 10**6)}
)


def k8s_configs(behaviors: list[str]) -> st.SearchStrategy[K8sConfig]:
    sections = st.fixed_dictionaries(
        {},
        optional={
            "container_config": container_config,
            "pod_spec_config": pod_spec_config,
            "pod_template_spec_metadata": metadata,
            "job_metadata": metadata,
            "job_spec_config": job_spec_config,
            "merge_behavior": st.sampled_from(behaviors),
        },
    )
    return sections.map(parse_k8s_config)


any_configs = k8s_configs(["DEEP", "SHALLOW", "deep", "Shallow"])
deep_configs = k8s_configs(["DEEP"])
