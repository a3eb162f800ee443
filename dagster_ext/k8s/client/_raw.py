"""Raw-JSON calls: we keep API objects as plain camelCase dicts end to end.

Deserialising into the client's model classes is slow and lossy (unknown fields are dropped), and
our pure layers (`spec`, `diagnosis`) work on dicts anyway.
"""

from __future__ import annotations

import json
from typing import Any

JsonDict = dict[str, Any]


def parse(response: Any) -> JsonDict:
    """Parse the body of a `_preload_content=False` response."""
    data = response.data
    if not data:
        return {}
    parsed = json.loads(data)
    return parsed if isinstance(parsed, dict) else {"items": parsed}


def batch_api(api_client: Any) -> Any:
    from kubernetes.client import BatchV1Api

    return BatchV1Api(api_client)


def core_api(api_client: Any) -> Any:
    from kubernetes.client import CoreV1Api

    return CoreV1Api(api_client)
