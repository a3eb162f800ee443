"""The external process of the Pipes tests: what a user's script in the user-code image does.

Run inside the K8s Job's pod (`python .../pipes_external.py`); it reports back through
`dagster-pipes` only, knowing nothing of dagster-ext.
"""

import os

from dagster_pipes import open_dagster_pipes

with open_dagster_pipes() as pipes:
    pipes.log.info(f"counting for asset {pipes.asset_key}")
    print("a plain line from the pod", flush=True)
    total = sum(range(1, 11))
    # 40 000 characters: one message line longer than the container runtime's 16 KiB log chunks
    long_text = "x" * 40_000
    pipes.report_asset_materialization(
        metadata={
            "total": total,
            "source": "k8s pod",
            "long": long_text,
            "env": f"{os.environ.get('GREETING')}/{os.environ.get('FROM_ASSET_TAG')}",
        }
    )
    pipes.report_asset_check(check_name="total_is_positive", passed=total > 0, metadata={"total": total})
