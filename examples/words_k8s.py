"""The seed's external K8s Job example (001 §4, Code 4) on dagster-ext's helpers.

`k8s_job_op` and `execute_k8s_job` start K8s Jobs outside the ones Dagster manages; their pods
inherit the run/step pod's spec (node selector, env, service account) and stream their output into
the run's logs. Only the imports differ from the dagster-k8s version.
"""

from dagster import In, Nothing, OpExecutionContext, job, op

from dagster_ext.k8s import execute_k8s_job, k8s_job_op

SMALL = {
    "requests": {"cpu": "125m", "memory": "256Mi"},
    "limits": {"cpu": "250m", "memory": "512Mi"},
}

echo_hello_job_op = k8s_job_op.configured(
    {"image": "busybox", "command": ["/bin/sh", "-c"], "args": ["echo HELLO"], "resources": SMALL},
    name="echo_hello_job_op",
)


@op(description="Echo goodbye", ins={"start_after": In(Nothing)})
def echo_goodbye_job_k8s(context: OpExecutionContext) -> None:
    execute_k8s_job(
        context=context,
        image="busybox",
        command=["/bin/sh", "-c"],
        args=["echo GOODBYE"],
        resources=SMALL,
    )


@job
def process_words_k8s_job() -> None:
    echo_goodbye_job_k8s(echo_hello_job_op())
