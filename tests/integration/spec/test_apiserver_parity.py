"""Differential test: the pod-spec model rejects a `dagster-k8s/config` exactly when a real API
server rejects the K8s Job it stands for (server-side dry run, `dryRun=All`, no Job is stored).

Hypothesis draws op-tag configs whose fields mix valid values and values the API server refuses
(out-of-range integers, enum values a Job does not allow, bad names, repeats, dangling mounts).
When we accept, the Job we render is submitted; when we reject, a naive manifest (the raw
sections placed into the Job as dagster-k8s would) is submitted, since ours does not exist.
The deliberate exceptions of docs/compat.md (where we are stricter) are tagged by the generator;
each has an example test below showing that the API server accepts it.

`fieldValidation=Strict` (kubectl's default): unknown field names are errors on both sides.
"""

from __future__ import annotations

import copy
from collections import Counter
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from dagster_ext.errors import ConfigError
from dagster_ext.k8s.spec import Layer, merge_layers, parse_k8s_config, render_step_k8s_job
from dagster_ext.testing.pytest_plugin import K8sCluster

pytestmark = [pytest.mark.cluster, pytest.mark.timeout(900)]

MIN_CASES = 500
STRICTER = "stricter"  # a value we reject on purpose although the API server accepts it (compat.md)


class Draw:
    """Records whether a drawn value is one of our documented stricter-than-the-server cases."""

    def __init__(self, data: st.DataObject) -> None:
        self.data = data
        self.stricter: set[str] = set()

    def one(self, valid: list[Any], invalid: list[Any], stricter: list[Any] | None = None) -> Any:
        groups = [group for group in (valid, invalid, stricter) if group]
        weights = {id(valid): 6, id(invalid): 1, id(stricter): 1}
        chosen = self.data.draw(st.sampled_from([g for g in groups for _ in range(weights[id(g)])]))
        value = self.data.draw(st.sampled_from(chosen))
        if chosen is stricter:
            self.stricter.add(repr(value))
        return value

    def maybe(self, probability: int = 3) -> bool:
        return bool(self.data.draw(st.integers(0, probability - 1)) == 0)


def int_field(draw: Draw, low: int, high: int) -> int:
    return int(draw.one([low, low + 1, high], [low - 1, high + 1, -(2**31)]))


def env_item(draw: Draw) -> dict[str, Any]:
    item: dict[str, Any] = {"name": draw.one(["A", "B_1", "camelCase", "x.y"], ["", "A=B"])}
    if draw.maybe():
        ref = {
            "name": draw.one(["app-secret", "s.v1"], ["App_Secret", ""]),
            "key": draw.one(["k", "a.b"], ["a/b"]),
        }
        item["valueFrom"] = {"secretKeyRef": ref}
        if draw.maybe(4):
            item["value"] = "both"
    else:
        item["value"] = draw.one(["v", ""], [])
    return item


def named_list(draw: Draw, make: Any, key: str, *, stricter_repeat: bool) -> list[dict[str, Any]]:
    items = [make(draw) for _ in range(draw.data.draw(st.integers(0, 3)))]
    keys = [item.get(key) for item in items]
    if stricter_repeat and len(set(map(repr, keys))) < len(keys):
        draw.stricter.add(f"repeated {key}")
    return items


def port_item(draw: Draw) -> dict[str, Any]:
    port: dict[str, Any] = {"containerPort": draw.one([1, 80, 65535], [0, -1, 65536])}
    if draw.maybe():
        port["protocol"] = draw.one(["TCP", "UDP", "SCTP"], ["tcp", "HTTP"])
    if draw.maybe():
        port["name"] = draw.one(["http", "web-1"], ["HTTP", "a--b", "x" * 16, "123"])
    if draw.maybe(4):
        port["hostPort"] = draw.one([0, 8080, 65535], [-1, 65536])
    return port


def container_config(draw: Draw) -> dict[str, Any]:
    config: dict[str, Any] = {}
    if draw.maybe():
        config["imagePullPolicy"] = draw.one(["Always", "IfNotPresent", "Never"], ["always", "Sometimes"])
    if draw.maybe():
        config["env"] = named_list(draw, env_item, "name", stricter_repeat=True)
    if draw.maybe():

        def port(d: Draw) -> dict[str, Any]:
            return port_item(d)

        ports = named_list(draw, port, "containerPort", stricter_repeat=False)
        identities = [(p.get("containerPort"), p.get("protocol") or "TCP") for p in ports]
        if len(set(identities)) < len(identities):
            draw.stricter.add("repeated containerPort")
        config["ports"] = ports
    if draw.maybe():

        def mount(d: Draw) -> dict[str, Any]:
            return {"name": d.one(["data", "cache"], ["missing"]), "mountPath": d.one(["/a", "/b"], [""])}

        config["volumeMounts"] = named_list(draw, mount, "mountPath", stricter_repeat=False)
    if draw.maybe():
        config["terminationMessagePolicy"] = draw.one(["File", "FallbackToLogsOnError"], ["file"])
    if draw.maybe():
        quantities = (["1", "500m", "2Gi"], ["2 cores", "-1", "1.5.0"])
        resources = {"limits": {"cpu": draw.one(*quantities)}, "requests": {"cpu": draw.one(*quantities)}}
        config["resources"] = resources
    if draw.maybe(4):
        config["envFrom"] = [env_from(draw) for _ in range(draw.data.draw(st.integers(1, 2)))]
    for key in ("readinessProbe", "livenessProbe"):
        if draw.maybe(4):
            config[key] = probe(draw)
    if draw.maybe(6):
        config["restartPolicy"] = draw.one([], ["Always", "Never"])
    return config


def env_from(draw: Draw) -> dict[str, Any]:
    kind = draw.one(["configMapRef", "secretRef"], ["both", "none"])
    item: dict[str, Any] = {}
    for ref in ("configMapRef", "secretRef"):
        if kind in (ref, "both"):
            item[ref] = {"name": draw.one(["app-config", "s.v1"], ["App_Config", ""])}
    if draw.maybe():
        item["prefix"] = draw.one(["APP_", "x.y"], ["A=B"])
    return item


def probe(draw: Draw) -> dict[str, Any]:
    handler = draw.one(["exec", "tcpSocket"], ["none", "both"])
    item: dict[str, Any] = {"periodSeconds": int_field(draw, 0, 2**31 - 1)}
    if handler in ("exec", "both"):
        item["exec"] = {"command": ["true"]}
    if handler in ("tcpSocket", "both"):
        item["tcpSocket"] = {"port": 8080}
    if draw.maybe():
        item["successThreshold"] = draw.one([1], [2])
    if draw.maybe(4):
        item["terminationGracePeriodSeconds"] = draw.one([1, 30], [0])
    return item


def volume(draw: Draw) -> dict[str, Any]:
    item: dict[str, Any] = {"name": draw.one(["data", "cache"], ["Bad_Name", "x" * 64])}
    kind = draw.one(["emptyDir", "secret", "configMap", "pvc", "none"], ["two"])
    if kind in ("emptyDir", "two"):
        item["emptyDir"] = {}
    if kind in ("secret", "two"):
        item["secret"] = {"secretName": draw.one(["app-secret"], [""], [STRICTER + "_Name"])}
        if draw.maybe():
            item["secret"]["defaultMode"] = draw.one([0, 0o644, 0o777], [-1, 0o1000])
    if kind == "configMap":
        item["configMap"] = {"name": draw.one(["app-config"], [""], ["Bad.Config-"])}
    if kind == "pvc":
        item["persistentVolumeClaim"] = {"claimName": draw.one(["claim-1"], [""], ["Claim/1"])}
    return item


def toleration(draw: Draw) -> dict[str, Any]:
    item: dict[str, Any] = {"operator": draw.one(["Exists", "Equal"], ["equal"])}
    if draw.maybe(4) is False:
        item["key"] = draw.one(["dedicated", "example.com/gpu"], ["bad key", "-k"])
    if draw.maybe():
        item["value"] = draw.one(["", "batch"], ["-x", "a b"])
    if draw.maybe():
        item["effect"] = draw.one(["NoSchedule", "NoExecute", "PreferNoSchedule"], ["Never"])
    if draw.maybe(4):
        item["tolerationSeconds"] = draw.one([0, 60], [])
    return item


def sidecar(draw: Draw) -> dict[str, Any]:
    item: dict[str, Any] = {"name": draw.one(["side", "side-2"], ["Side", "-side"])}
    if draw.maybe(5) is False:
        item["image"] = "busybox"
    if draw.maybe(4):
        item["restartPolicy"] = draw.one(["Always"], ["Never", "always"])
    if draw.maybe(4):
        item["startupProbe"] = probe(draw)
    return item


def pod_spec_config(draw: Draw) -> dict[str, Any]:
    config: dict[str, Any] = {}
    if draw.maybe():
        config["restartPolicy"] = draw.one(["Never", "OnFailure"], ["Always", "never"])
    if draw.maybe():
        config["activeDeadlineSeconds"] = int_field(draw, 1, 2**31 - 1)
    if draw.maybe(4):
        config["terminationGracePeriodSeconds"] = draw.one([0, 30], [-1, -(2**31)])
    if draw.maybe():
        config["serviceAccountName"] = draw.one(["default", "my-sa", "a.b", ""], ["My_SA", "-sa"])
    if draw.maybe():
        config["nodeSelector"] = {
            draw.one(["zone", "ex.com/pool"], ["bad key!", "Ex.com/x"]): draw.one(["a", ""], ["-a"])
        }
    if draw.maybe():
        config["volumes"] = named_list(draw, volume, "name", stricter_repeat=False)
    if draw.maybe(4):
        config["containers"] = named_list(draw, sidecar, "name", stricter_repeat=False)
    if draw.maybe(4):
        config["initContainers"] = named_list(draw, sidecar, "name", stricter_repeat=False)
    if draw.maybe(4):
        config["dnsPolicy"] = draw.one(["ClusterFirst", "Default", "None"], ["clusterfirst"])
        if draw.maybe():
            config["dnsConfig"] = {"nameservers": ["1.1.1.1"]}
    if draw.maybe(3):
        config["tolerations"] = [toleration(draw) for _ in range(draw.data.draw(st.integers(1, 2)))]
    if draw.maybe(4):
        config["hostname"] = draw.one(["host-1", ""], ["Host_1", "a.b"])
    if draw.maybe(4):
        config["imagePullSecrets"] = [{"name": draw.one(["reg", ""], [], ["Reg_1"])}]
    return config


def job_spec_config(draw: Draw) -> dict[str, Any]:
    config: dict[str, Any] = {}
    for field in ("backoffLimit", "ttlSecondsAfterFinished", "parallelism", "completions"):
        if draw.maybe():
            config[field] = int_field(draw, 0, 2**31 - 1)
    if draw.maybe():
        config["activeDeadlineSeconds"] = draw.one([0, 1, 3600], [-1])
    if draw.maybe(4):
        config["completionMode"] = draw.one(["NonIndexed", "Indexed"], ["indexed"])
    if draw.maybe(4):
        config["completions"] = draw.one([1, 10, 100_000, 100_001], [-1])
    for field in ("backoffLimitPerIndex", "maxFailedIndexes"):
        if draw.maybe(5):
            config[field] = draw.one([0, 1, 10_000, 10_001, 100_000, 100_001], [-1])
    return config


def metadata(draw: Draw) -> dict[str, Any]:
    key = draw.one(["team", "example.com/owner"], ["-team", "Example.com/x", "a/b/c"])
    return {"labels": {key: draw.one(["data", "a.b_c", ""], ["-x", "x" * 64, "a b"])}}


SECTIONS = {
    "container_config": container_config,
    "pod_spec_config": pod_spec_config,
    "job_spec_config": job_spec_config,
    "job_metadata": metadata,
    "pod_template_spec_metadata": metadata,
}


def draw_config(data: st.DataObject) -> tuple[dict[str, Any], set[str]]:
    draw = Draw(data)
    config = {name: make(draw) for name, make in SECTIONS.items() if draw.maybe(2)}
    return config, draw.stricter


def render(config: dict[str, Any]) -> dict[str, Any]:
    merged = merge_layers([Layer("op_tags", parse_k8s_config(config))])
    rendered = render_step_k8s_job(
        merged,
        run_id="parity",
        dagster_job="job",
        step_key="step",
        compressed_step_args="ARGS",
        image="busybox",
    )
    return rendered.manifest


BASELINE = render({})


def naive_manifest(config: dict[str, Any]) -> dict[str, Any]:
    """The raw sections placed into our empty-config Job, dicts merged, lists replaced (the main
    container's env prepended to ours): what the API server would get without our model."""
    manifest = copy.deepcopy(BASELINE)
    pod = manifest["spec"]["template"]["spec"]
    main = pod["containers"][0]
    places = {
        "job_metadata": manifest["metadata"],
        "job_spec_config": manifest["spec"],
        "pod_template_spec_metadata": manifest["spec"]["template"]["metadata"],
        "pod_spec_config": pod,
        "container_config": main,
    }
    for section, target in places.items():
        raw = copy.deepcopy(config.get(section) or {})
        if section == "container_config" and "env" in raw:
            raw["env"] = [*raw["env"], *main.get("env", [])]
        if section == "pod_spec_config" and "containers" in raw:
            raw["containers"] = [main, *raw["containers"]]
        merge_into(target, raw)
    return manifest


def merge_into(target: dict[str, Any], raw: dict[str, Any]) -> None:
    for key, value in raw.items():
        if isinstance(value, dict) and isinstance(target.get(key), dict):
            merge_into(target[key], value)
        else:
            target[key] = value


def server_rejects(cluster: K8sCluster, namespace: str, manifest: dict[str, Any]) -> bool:
    from kubernetes.client.exceptions import ApiException

    try:
        cluster.batch_v1.create_namespaced_job(namespace, manifest, dry_run="All", field_validation="Strict")
    except ApiException as err:
        assert err.status in (400, 422), (err.status, err.body)  # invalid, not a server fault
        return True
    return False


def we_reject(config: dict[str, Any]) -> tuple[bool, dict[str, Any] | None]:
    try:
        return False, render(config)
    except ConfigError:
        return True, None


def test_we_reject_exactly_what_the_api_server_rejects(k8s_cluster: K8sCluster, k8s_namespace: str) -> None:
    outcomes: Counter[str] = Counter()

    @settings(
        max_examples=800,
        deadline=None,
        database=None,
        suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
    )
    @given(st.data())
    def case(data: st.DataObject) -> None:
        config, stricter = draw_config(data)
        rejected, manifest = we_reject(config)
        server = server_rejects(
            k8s_cluster, k8s_namespace, manifest if manifest is not None else naive_manifest(config)
        )
        outcomes[f"ours={'reject' if rejected else 'accept'} server={'reject' if server else 'accept'}"] += 1
        if stricter:
            assert rejected, (config, stricter)  # a documented stricter case must be rejected by us
            return
        assert rejected == server, config

    case()
    total = sum(outcomes.values())
    print(dict(outcomes))
    assert total >= MIN_CASES, outcomes
    assert outcomes["ours=accept server=accept"] >= 50 and outcomes["ours=reject server=reject"] >= 50, (
        outcomes
    )


# Deliberate exceptions (docs/compat.md): we reject, the API server accepts. Each example shows
# the server's side, so a server that starts rejecting them is noticed.
STRICTER_EXAMPLES = {
    "repeated env var name": {
        "container_config": {"env": [{"name": "A", "value": "1"}, {"name": "A", "value": "2"}]}
    },
    "repeated containerPort": {"container_config": {"ports": [{"containerPort": 80}, {"containerPort": 80}]}},
    "secret volume name no Secret can have": {
        "pod_spec_config": {"volumes": [{"name": "s", "secret": {"secretName": "Bad_Name"}}]}
    },
    "configMap volume name no ConfigMap can have": {
        "pod_spec_config": {"volumes": [{"name": "c", "configMap": {"name": "Bad.Config-"}}]}
    },
    "claim name no PVC can have": {
        "pod_spec_config": {"volumes": [{"name": "p", "persistentVolumeClaim": {"claimName": "Claim/1"}}]}
    },
    "image pull secret name no Secret can have": {
        "pod_spec_config": {"imagePullSecrets": [{"name": "Reg_1"}]}
    },
}


@pytest.mark.parametrize("config", STRICTER_EXAMPLES.values(), ids=list(STRICTER_EXAMPLES))
def test_documented_stricter_cases_are_accepted_by_the_api_server(
    k8s_cluster: K8sCluster, k8s_namespace: str, config: dict[str, Any]
) -> None:
    assert we_reject(config)[0]
    assert not server_rejects(k8s_cluster, k8s_namespace, naive_manifest(config))
