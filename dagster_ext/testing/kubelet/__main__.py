"""`python -m dagster_ext.testing.kubelet --kubeconfig … --node-name … --port … --state-dir …
--tls-cert … --tls-key … [--node-label k=v …] [--unpullable-image-regex RE] [--cpu 64]
[--memory BYTES]`."""

from __future__ import annotations

import argparse
import logging
import re
import sys
from collections.abc import Sequence
from pathlib import Path

from dagster_ext.testing.kubelet.quantity import QuantityError, parse_quantity, to_int_ceil
from dagster_ext.testing.kubelet.settings import KubeletSettings


def _label(text: str) -> tuple[str, str]:
    key, sep, value = text.partition("=")
    if not sep or not key:
        raise argparse.ArgumentTypeError(f"--node-label expects key=value, got {text!r}")
    return key, value


def _bytes(text: str) -> int:
    try:
        return to_int_ceil(parse_quantity(text))
    except QuantityError as err:
        raise argparse.ArgumentTypeError(str(err)) from err


def _regex(text: str) -> re.Pattern[str]:
    try:
        return re.compile(text)
    except re.error as err:
        raise argparse.ArgumentTypeError(f"--unpullable-image-regex: {err}") from err


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m dagster_ext.testing.kubelet", description=__doc__)
    p.add_argument("--kubeconfig", required=True)
    p.add_argument("--node-name", required=True)
    p.add_argument("--port", type=int, required=True, help="HTTPS port for logs (127.0.0.1)")
    p.add_argument("--state-dir", type=Path, required=True, help="volumes, logs and pid files")
    p.add_argument("--tls-cert", required=True)
    p.add_argument("--tls-key", required=True)
    p.add_argument("--node-label", type=_label, action="append", default=[], metavar="KEY=VALUE")
    p.add_argument("--unpullable-image-regex", type=_regex, default=None, metavar="REGEX")
    p.add_argument("--cpu", default="64")
    p.add_argument("--memory", type=_bytes, default=None, help="bytes (or a quantity such as 16Gi)")
    p.add_argument("--pods", type=int, default=110)
    p.add_argument(
        "--memory-limits",
        choices=("auto", "cgroup2", "cgroup1", "poll"),
        default="auto",
        help="how limits.memory is enforced (auto: cgroup v2, else v1, else RSS polling)",
    )
    p.add_argument("--inherit-env", action="append", default=[], metavar="NAME", help="extra host variable")
    p.add_argument("--log-level", default="INFO")
    return p


def settings_from(args: argparse.Namespace) -> KubeletSettings:
    return KubeletSettings(
        kubeconfig=args.kubeconfig,
        node_name=args.node_name,
        port=args.port,
        state_dir=args.state_dir.resolve(),
        tls_cert=args.tls_cert,
        tls_key=args.tls_key,
        node_labels=dict(args.node_label),
        unpullable_image=args.unpullable_image_regex,
        cpu=args.cpu,
        memory_bytes=args.memory,
        pods=args.pods,
        memory_mode=args.memory_limits,
        inherit_env=tuple(args.inherit_env),
    )


def main(argv: Sequence[str] | None = None) -> int:
    args = parser().parse_args(argv)
    logging.basicConfig(
        level=args.log_level.upper(),
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
        stream=sys.stderr,
    )
    from dagster_ext.testing.kubelet.service import Kubelet

    kubelet = Kubelet(settings_from(args))
    kubelet.install_signal_handlers()
    return kubelet.run()


if __name__ == "__main__":
    sys.exit(main())
