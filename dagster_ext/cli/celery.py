"""`dagster-ext celery worker|status`: run a warm worker for the Celery-queue executor, and see
queues, depths, workers and running steps.

Both read the same executor config as the job (`-y run_config.yaml`, under `execution.config`, or
the config mapping itself); with none, the embedded queue under $DAGSTER_HOME is used.
"""

from __future__ import annotations

import json
import time
import uuid
from typing import Any

import click

from dagster_ext.errors import ConfigError


def _settings(config_yaml: str | None) -> Any:
    from dagster_ext.celery.config_files import executor_config_from_file
    from dagster_ext.celery.settings import settings_from_config

    try:
        return settings_from_config(executor_config_from_file(config_yaml))
    except ConfigError as err:
        raise click.UsageError(str(err)) from err


@click.group("celery")
def celery() -> None:
    """The Celery-queue executor's workers and queues."""


@celery.command("worker")
@click.option("--config-yaml", "-y", type=click.Path(exists=True), help="Run config (executor config).")
@click.option("--queue", "-q", "queues", multiple=True, help="Queue to consume (repeat; default: dagster).")
@click.option("--concurrency", "-c", type=int, default=1, show_default=True, help="Slots: steps at once.")
@click.option("--name", "-n", default=None, help="Worker name (default dagster-ext-<random>@<host>).")
@click.option("--loglevel", "-l", default="INFO", show_default=True, help="Celery's log level.")
@click.option(
    "--pool",
    "-P",
    type=click.Choice(["prefork", "solo"]),
    default="prefork",
    show_default=True,
    help="prefork: one process per slot; solo: steps run in the worker's own process.",
)
@click.option("--max-tasks-per-child", type=int, default=None, help="Recycle a slot's process after N steps.")
@click.option(
    "--read-ahead",
    type=click.IntRange(min=0),
    default=0,
    show_default=True,
    help="Messages held beyond the slots, handed to a slot the moment it frees (less idle time between "
    "short steps; a message read ahead is not overtaken by a more urgent one).",
)
@click.option(
    "--fetch-at-step-end/--no-fetch-at-step-end",
    default=True,
    show_default=True,
    help="Fetch a slot's next message as soon as its step has written its last event, while the task "
    "winds down, instead of once the slot is free (Redis broker).",
)
@click.option(
    "--slot-nice",
    type=click.IntRange(0, 19),
    default=0,
    show_default=True,
    help="Niceness added to the slot processes, so the worker's main process, which hands them their "
    "next step, gets a CPU first on a busy host.",
)
@click.argument("celery_args", nargs=-1, type=click.UNPROCESSED)
def worker(  # noqa: PLR0917 - click passes options positionally
    config_yaml: str | None,
    queues: tuple[str, ...],
    concurrency: int,
    name: str | None,
    loglevel: str,
    pool: str,
    max_tasks_per_child: int | None,
    read_ahead: int,
    fetch_at_step_end: bool,
    slot_nice: int,
    celery_args: tuple[str, ...],
) -> None:
    """Start a worker. Safe defaults: late ack, one message per slot, no prefetch hoarding."""
    from dagster_ext.celery.worker.app import make_worker_app
    from dagster_ext.celery.worker.configuring import WorkerOptions

    settings = _settings(config_yaml)
    if concurrency < 1:
        raise click.BadParameter("must be >= 1", param_hint="--concurrency")
    queue_list = [q.strip() for spec in (queues or (settings.default_queue,)) for q in spec.split(",") if q]
    node = name or f"dagster-ext-{uuid.uuid4().hex[:6]}@%h"
    options = WorkerOptions(
        claims_url=settings.claims_url, read_ahead=read_ahead, fetch_at_step_end=fetch_at_step_end,
        slot_nice=slot_nice,
    )  # fmt: skip
    app = make_worker_app(settings, options)  # applies them when the worker starts (configure_worker)
    argv = ["worker", "-Q", ",".join(queue_list), "-c", str(concurrency), "-n", node, "-l", loglevel]
    argv += ["-P", pool, "--without-gossip", "--without-mingle", "--prefetch-multiplier", "1"]
    if max_tasks_per_child:
        argv += ["--max-tasks-per-child", str(max_tasks_per_child)]
    app.worker_main(argv=[*argv, *celery_args])


@celery.command("status")
@click.option("--config-yaml", "-y", type=click.Path(exists=True), help="Run config (executor config).")
@click.option("--queue", "-q", "queues", multiple=True, help="Queues to show besides those found.")
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
def status(config_yaml: str | None, queues: tuple[str, ...], as_json: bool) -> None:
    """Queues and their depth, live workers and the steps running now."""
    from dagster_ext.celery.claims import open_claim_store
    from dagster_ext.celery.inspecting import queue_depths

    settings = _settings(config_yaml)
    store = open_claim_store(settings.claims_url)
    report = {
        "broker": _without_password(settings.broker_url),
        "queues": queue_depths(settings, [settings.default_queue, *queues]),
        "workers": store.workers(),
        "running": [
            {
                "run_id": s.step.run_id,
                "step_key": s.step.step_key,
                "attempt": s.step.attempt,
                "worker": s.worker,
                "for_s": round(time.time() - s.claimed_at, 1) if s.claimed_at else None,
                "lease_alive": s.lease_alive,
            }
            for s in store.running()
        ],
    }
    if as_json:
        click.echo(json.dumps(report, indent=2))
        return
    _print_report(report)


def _without_password(url: str) -> str:
    """The broker URL as shown: probe output lands in Kubernetes events, so no password."""
    from urllib.parse import urlsplit, urlunsplit

    parts = urlsplit(url)
    if parts.password is None:
        return url
    host = parts.hostname or ""
    netloc = f"{parts.username or ''}:***@{host}" + (f":{parts.port}" if parts.port else "")
    return urlunsplit(parts._replace(netloc=netloc))


def _print_report(report: dict[str, Any]) -> None:
    click.echo(f"broker: {report['broker']}")
    depths = report["queues"]
    click.echo("queues:" if depths is not None else "queues: (depth not readable on this broker)")
    for queue, depth in (depths or {}).items():
        click.echo(f"  {queue}: {depth} waiting")
    click.echo(f"workers: {len(report['workers'])}")
    for w in report["workers"]:
        ahead = f" + {w['read_ahead']} read ahead" if w.get("read_ahead") else ""
        idle = w.get("idle_since")
        state = f"room for a step for {max(0.0, time.time() - idle):.0f}s" if idle else "full"
        slots = f"{w['concurrency']} slots{ahead}"
        click.echo(f"  {w['name']}: queues {','.join(w['queues'])}, {slots}, pid {w['pid']}, {state}")
    click.echo(f"running steps: {len(report['running'])}")
    for r in report["running"]:
        lease = "" if r["lease_alive"] else " (lease lapsed: worker lost?)"
        step = f"{r['run_id']} {r['step_key']}#{r['attempt']}"
        click.echo(f"  {step} on {r['worker']} for {r['for_s']}s{lease}")
