from __future__ import annotations

from pathlib import Path

import pytest

from dagster_ext.celery.conf import celery_conf
from dagster_ext.celery.inspecting import filesystem_depths
from dagster_ext.celery.settings import StepMode, settings_from_config
from dagster_ext.errors import ConfigError


def test_embedded_default_lives_under_dagster_home(tmp_path: Path) -> None:
    s = settings_from_config({}, {"DAGSTER_HOME": str(tmp_path)})
    assert s.broker_url == "filesystem://"
    assert s.embedded_dir == str(tmp_path / "dagster_ext_celery")
    assert s.claims_url == f"sqlite:///{tmp_path}/dagster_ext_celery/claims.sqlite"
    assert s.default_queue == "dagster" and s.step_mode is StepMode.IN_WORKER
    conf = celery_conf(s)
    opts = conf["broker_transport_options"]
    assert opts["data_folder_in"] == opts["data_folder_out"] == f"{tmp_path}/dagster_ext_celery/queue"
    assert conf["result_backend"].startswith("file://")


def test_embedded_without_home_says_what_to_set() -> None:
    with pytest.raises(ConfigError, match=r"execution\.config\.broker") as err:
        settings_from_config({}, {})
    assert "DAGSTER_HOME" in str(err.value)


def test_redis_broker_carries_the_claims_and_exact_priorities() -> None:
    s = settings_from_config({"broker": "redis://r:6379/1"}, {})
    assert s.claims_url == "redis://r:6379/1"
    conf = celery_conf(s)
    opts = conf["broker_transport_options"]
    assert opts["queue_order_strategy"] == "priority" and opts["priority_steps"] == list(range(10))
    assert conf["task_acks_late"] and conf["task_reject_on_worker_lost"]
    assert conf["worker_prefetch_multiplier"] == 1
    assert conf["task_default_priority"] == 4  # urgency 5 on Redis's inverted scale
    assert opts["visibility_timeout"] > conf["task_time_limit"] > conf["task_soft_time_limit"]


def test_amqp_needs_a_claims_url() -> None:
    with pytest.raises(ConfigError, match="claims_url"):
        settings_from_config({"broker": "pyamqp://guest@h//", "backend": "rpc://"}, {})
    s = settings_from_config({"broker": "pyamqp://h//", "backend": "redis://r/2"}, {})
    assert s.claims_url == "redis://r/2"


def test_user_config_source_cannot_undercut_the_visibility_rule() -> None:
    config = {
        "broker": "redis://r",
        "step_time_limit_seconds": 100,
        "config_source": {"broker_transport_options": {"visibility_timeout": 60}},
    }
    with pytest.raises(ConfigError, match="visibility_timeout"):
        celery_conf(settings_from_config(config, {}))
    config["config_source"] = {
        "worker_concurrency": 3,
        "broker_transport_options": {"visibility_timeout": 999},
    }
    conf = celery_conf(settings_from_config(config, {}))
    assert conf["worker_concurrency"] == 3
    assert conf["broker_transport_options"]["priority_steps"] == list(range(10))  # merged, not replaced


@pytest.mark.parametrize(("key", "value"), [("claim_lease_seconds", 0), ("step_time_limit_seconds", -1)])
def test_non_positive_durations_are_rejected(key: str, value: int) -> None:
    with pytest.raises(ConfigError, match=key):
        settings_from_config({"broker": "redis://r", key: value}, {})


def test_filesystem_depths_parse_kombu_file_names(tmp_path: Path) -> None:
    for name in ("1_aa.dagster.msg", "2_bb.dagster.msg", "3_cc.my.queue.msg", "junk.txt"):
        (tmp_path / name).write_text("{}")
    assert filesystem_depths(str(tmp_path)) == {"dagster": 2, "my.queue": 1}
