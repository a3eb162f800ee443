"""A pod worker end to end with a fake API: real processes, mount namespaces, memory limits."""

from __future__ import annotations

from pathlib import Path

import pytest
from kubelet_harness import Harness, container_state, make_pod, py

from dagster_ext.testing.kubelet import runtime

pytestmark = pytest.mark.timeout(60)
needs_mounts = pytest.mark.skipif(
    not runtime.mount_namespaces_available(), reason="needs root and unshare for mount namespaces"
)


def test_job_pod_succeeds_with_logs_and_events(harness: Harness) -> None:
    worker = harness.run(make_pod(py("print('hi')")))
    worker.finished.wait(20)
    final = harness.api.last
    assert final["phase"] == "Succeeded"
    terminated = container_state(final)["terminated"]
    assert (terminated["exitCode"], terminated["reason"]) == (0, "Completed")
    assert harness.log_of(worker) == "hi\n"
    harness.events.stop()
    assert harness.api.reasons()[:3] == ["Pulled", "Created", "Started"]


def test_failing_command_fails_pod_with_exit_code(harness: Harness) -> None:
    worker = harness.run(make_pod(py("import sys; print('bye'); sys.exit(3)")))
    worker.finished.wait(20)
    final = harness.api.last
    assert final["phase"] == "Failed"
    assert container_state(final)["terminated"]["exitCode"] == 3
    assert container_state(final)["terminated"]["reason"] == "Error"


def test_memory_limit_ends_oomkilled(harness: Harness) -> None:
    hog = "import time\nx = []\nwhile True:\n    x.append(bytearray(16 * 2**20)); time.sleep(0.01)"
    pod = make_pod(py(hog, resources={"limits": {"memory": "64Mi"}}))
    worker = harness.run(pod)
    assert worker.finished.wait(30)
    terminated = container_state(harness.api.last)["terminated"]
    assert (terminated["exitCode"], terminated["reason"]) == (137, "OOMKilled")
    harness.events.stop()
    assert "OOMKilling" in harness.api.reasons()


def test_missing_command_is_a_start_error(harness: Harness) -> None:
    worker = harness.run(make_pod({"name": "main", "image": "x"}))
    worker.finished.wait(20)
    terminated = container_state(harness.api.last)["terminated"]
    assert (terminated["exitCode"], terminated["reason"]) == (128, "StartError")


def test_deletion_kills_then_deletes(harness: Harness) -> None:
    pod = make_pod(
        py("import time; print('up', flush=True); time.sleep(600)"), terminationGracePeriodSeconds=2
    )
    worker = harness.run(pod)
    harness.api.wait_for(lambda s: s["phase"] == "Running")
    deleting = {**pod, "metadata": {**pod["metadata"], "deletionTimestamp": "2024-01-01T00:00:00Z"}}
    worker.observe(deleting)
    assert worker.finished.wait(10)
    terminated = container_state(harness.api.last)["terminated"]
    assert terminated["exitCode"] == 143  # SIGTERM
    assert harness.api.last["phase"] == "Failed"
    assert harness.api.deleted == [("ns", pod["metadata"]["name"], pod["metadata"]["uid"])]
    harness.events.stop()
    assert "Killing" in harness.api.reasons()


def test_sigterm_ignored_gets_sigkill_after_grace(harness: Harness) -> None:
    code = "import signal, time; signal.signal(signal.SIGTERM, signal.SIG_IGN); print('up', flush=True)\n"
    pod = make_pod(py(code + "time.sleep(600)"), terminationGracePeriodSeconds=1)
    worker = harness.run(pod)
    harness.wait_for_log(worker, "up")
    worker.observe({**pod, "metadata": {**pod["metadata"], "deletionTimestamp": "x"}})
    assert worker.finished.wait(10)
    assert container_state(harness.api.last)["terminated"]["exitCode"] == 137


def test_unpullable_image_backs_off_and_never_runs(harness: Harness) -> None:
    pod = make_pod({"name": "main", "image": "unpullable/x:1", "command": ["touch", "/tmp/should-not-exist"]})
    worker = harness.run(pod)
    status = harness.api.wait_for(
        lambda s: container_state(s).get("waiting", {}).get("reason") == "ImagePullBackOff"
    )
    assert status["phase"] == "Pending"
    harness.api.wait_for(lambda s: container_state(s).get("waiting", {}).get("reason") == "ErrImagePull")
    worker.observe({**pod, "metadata": {**pod["metadata"], "deletionTimestamp": "x"}})
    assert worker.finished.wait(10)
    harness.events.stop()
    reasons = harness.api.reasons()
    assert {"Pulling", "Failed", "BackOff"} <= set(reasons)
    assert "Started" not in reasons


def test_missing_secret_is_config_error_until_created(harness: Harness) -> None:
    env = [{"name": "S", "valueFrom": {"secretKeyRef": {"name": "later", "key": "k"}}}]
    worker = harness.run(make_pod(py("import os; print(os.environ['S'])", env=env)))
    status = harness.api.wait_for(
        lambda s: container_state(s).get("waiting", {}).get("reason") == "CreateContainerConfigError"
    )
    assert container_state(status)["waiting"]["message"] == 'secret "later" not found'
    harness.api.secrets["later"] = {"k": b"now"}
    assert worker.finished.wait(20)
    assert harness.api.last["phase"] == "Succeeded"
    assert harness.log_of(worker) == "now\n"


@needs_mounts
def test_volumes_env_and_init_containers(harness: Harness, tmp_path: Path) -> None:
    root = tmp_path / "mnt"  # mount points outside the pod's volumes (created on the host, like the kubelet)
    harness.api.config_maps["cm"] = {"conf.txt": b"from-configmap", "kube-root-ca.crt": b""}
    harness.api.secrets["sec"] = {"password": b"s3cret"}
    sa_dir = "/var/run/secrets/kubernetes.io/serviceaccount"
    volumes = [
        {"name": "work", "emptyDir": {}},
        {"name": "conf", "configMap": {"name": "cm", "items": [{"key": "conf.txt", "path": "app/conf.txt"}]}},
        {"name": "sec", "secret": {"secretName": "sec"}},
        {
            "name": "kube-api-access",
            "projected": {
                "sources": [
                    {"serviceAccountToken": {"path": "token", "expirationSeconds": 3607}},
                    {
                        "configMap": {
                            "name": "kube-root-ca.crt",
                            "items": [{"key": "ca.crt", "path": "ca.crt"}],
                        }
                    },
                    {
                        "downwardAPI": {
                            "items": [{"path": "namespace", "fieldRef": {"fieldPath": "metadata.namespace"}}]
                        }
                    },
                ]
            },
        },
    ]
    init = py(
        f"open('{root}/work/seed', 'w').write('seeded')",
        name="seed",
        volumeMounts=[{"name": "work", "mountPath": f"{root}/work"}],
    )
    reader = (
        "import os\n"
        f"print(open('{root}/work/seed').read())\n"
        f"print(open('{root}/etc/app/conf.txt').read())\n"
        f"print(open('{root}/etc/sec/password').read())\n"
        f"print(*(open('{sa_dir}/' + n).read() for n in ('token', 'ca.crt', 'namespace')))\n"
        "print(os.environ['HOSTNAME'], os.environ['KUBERNETES_SERVICE_PORT'], os.getcwd())\n"
    )
    main = py(
        reader,
        workingDir=f"{root}/work",
        volumeMounts=[
            {"name": "work", "mountPath": f"{root}/work"},
            {"name": "conf", "mountPath": f"{root}/etc/app", "subPath": "app", "readOnly": True},
            {"name": "sec", "mountPath": f"{root}/etc/sec", "readOnly": True},
            {"name": "kube-api-access", "mountPath": sa_dir, "readOnly": True},
        ],
    )
    pod = make_pod(main, init=(init,), volumes=volumes, serviceAccountName="runner")
    worker = harness.run(pod)
    assert worker.finished.wait(30)
    assert harness.api.last["phase"] == "Succeeded", harness.log_of(worker)
    assert harness.log_of(worker).splitlines() == [
        "seeded",
        "from-configmap",
        "s3cret",
        "token-of-runner CA ns",
        f"{pod['metadata']['name']} 6443 {root}/work",
    ]
    _account, spec = harness.api.tokens[0]
    assert spec["boundObjectRef"]["uid"] == pod["metadata"]["uid"]
    assert not (root / "etc" / "sec" / "password").exists()  # mounts stay private


def test_shutdown_kills_without_publishing(harness: Harness) -> None:
    worker = harness.run(make_pod(py("import time; print('up', flush=True); time.sleep(600)")))
    harness.api.wait_for(lambda s: s["phase"] == "Running")
    published = len(harness.api.statuses)
    worker.shutdown()
    worker.join(10)
    assert len(harness.api.statuses) == published


def test_unresolvable_env_is_a_config_error_not_a_crash(harness: Harness) -> None:
    env = [{"name": "X", "valueFrom": {"resourceFieldRef": {"resource": "limits.cpu", "divisor": "0"}}}]
    pod = make_pod(py("print('never')", env=env))
    worker = harness.run(pod)
    status = harness.api.wait_for(
        lambda s: container_state(s).get("waiting", {}).get("reason") == "CreateContainerConfigError"
    )
    assert "divisor" in container_state(status)["waiting"]["message"]
    worker.observe({**pod, "metadata": {**pod["metadata"], "deletionTimestamp": "x"}})
    assert worker.finished.wait(10)
    terminated = container_state(harness.api.last)["terminated"]
    assert terminated["reason"] == "ContainerStatusUnknown"
