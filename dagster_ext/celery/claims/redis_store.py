"""`ClaimStore` on Redis: claim, renew and finish are single Lua scripts (atomic).

Keys (prefix `dagster-ext:`): `step:{ident}` hash (state, holder, worker, claims, outcome, ...),
`lease:{ident}` the holder token with a TTL, `cancel:{run}`, `log:{run}` list of JSON entries,
`running` set of idents, `workers` hash name -> JSON with an expiry time, `wake:{run}` a list the
finish script pushes to, so the run worker hears of a finished step at once.
"""

from __future__ import annotations

import json
import time
from collections.abc import Sequence
from typing import Any

import redis
from redis.backoff import ExponentialBackoff
from redis.retry import Retry

from dagster_ext.celery.claims.model import (
    RETENTION_S,
    ClaimResult,
    ClaimStatus,
    Outcome,
    StepAttempt,
    log_entry,
)

PREFIX = "dagster-ext:"
WAKE_TTL_S = 3600  # a run worker that stopped listening leaves at most an hour of wake-ups

_CLAIM = """
if redis.call('EXISTS', KEYS[4]) == 1 then return 'canceled' end
if redis.call('HGET', KEYS[1], 'state') == 'done' then return 'done' end
if not redis.call('SET', KEYS[2], ARGV[1], 'NX', 'PX', ARGV[2]) then return 'held' end
redis.call('HSET', KEYS[1], 'state', 'running', 'holder', ARGV[1], 'worker', ARGV[3], 'claimed_at', ARGV[4])
redis.call('HINCRBY', KEYS[1], 'claims', 1)
redis.call('EXPIRE', KEYS[1], ARGV[5])
redis.call('SADD', KEYS[3], ARGV[6])
redis.call('RPUSH', KEYS[5], ARGV[7])
redis.call('EXPIRE', KEYS[5], ARGV[5])
return 'claimed'
"""
_RENEW = """
if redis.call('GET', KEYS[1]) == ARGV[1] then
  redis.call('PEXPIRE', KEYS[1], ARGV[2]); return 1
end
return 0
"""
_FINISH = """
if redis.call('HGET', KEYS[1], 'holder') ~= ARGV[1] then return 0 end
redis.call('HSET', KEYS[1], 'state', 'done', 'outcome', ARGV[2], 'error', ARGV[3], 'finished_at', ARGV[4])
if redis.call('GET', KEYS[2]) == ARGV[1] then redis.call('DEL', KEYS[2]) end
redis.call('SREM', KEYS[3], ARGV[5])
redis.call('RPUSH', KEYS[4], ARGV[6])
redis.call('RPUSH', KEYS[5], '1')
redis.call('EXPIRE', KEYS[5], ARGV[7])
return 1
"""


def _client(url: str) -> redis.Redis:
    retry = Retry(ExponentialBackoff(cap=1.0, base=0.05), retries=40)
    return redis.Redis.from_url(
        url,
        retry=retry,
        retry_on_error=[redis.ConnectionError, redis.TimeoutError],
        socket_timeout=10,
        socket_connect_timeout=5,
        health_check_interval=15,
        decode_responses=True,
    )


class RedisClaimStore:
    def __init__(self, url: str) -> None:
        self._url = url
        self._redis: redis.Redis | None = None  # no I/O in the constructor

    @property
    def _r(self) -> redis.Redis:
        if self._redis is None:
            self._redis = _client(self._url)
        return self._redis

    @staticmethod
    def _keys(step: StepAttempt) -> tuple[str, str]:
        return f"{PREFIX}step:{step.ident}", f"{PREFIX}lease:{step.ident}"

    def claim(self, step: StepAttempt, *, holder: str, worker: str, lease_s: float) -> ClaimResult:
        hkey, lkey = self._keys(step)
        entry = _entry("claimed", step, worker=worker, holder=holder)
        keys = [hkey, lkey, PREFIX + "running", f"{PREFIX}cancel:{step.run_id}", f"{PREFIX}log:{step.run_id}"]
        args: list[str | int | float] = [holder, int(lease_s * 1000), worker, time.time(), RETENTION_S]
        args += [step.ident, entry]
        return ClaimResult(self._r.eval(_CLAIM, len(keys), *keys, *args))

    def renew(self, step: StepAttempt, *, holder: str, lease_s: float) -> bool:
        _, lkey = self._keys(step)
        return bool(self._r.eval(_RENEW, 1, lkey, holder, int(lease_s * 1000)))

    def finish(self, step: StepAttempt, *, holder: str, outcome: Outcome, error: str | None = None) -> None:
        hkey, lkey = self._keys(step)
        entry = _entry("finished", step, holder=holder, outcome=outcome.value, error=error)
        keys = [hkey, lkey, PREFIX + "running", f"{PREFIX}log:{step.run_id}", f"{PREFIX}wake:{step.run_id}"]
        args = [holder, outcome.value, error or "", time.time(), step.ident, entry, WAKE_TTL_S]
        self._r.eval(_FINISH, len(keys), *keys, *args)

    def wait_for_step_end(self, run_id: str, timeout_s: float) -> bool:
        key = f"{PREFIX}wake:{run_id}"
        if self._r.blpop([key], timeout=timeout_s) is None:
            return False
        self._r.delete(key)  # one event-log read covers every step that ended meanwhile
        return True

    def status(self, step: StepAttempt) -> ClaimStatus:
        return self.statuses([step])[0]

    def statuses(self, steps: Sequence[StepAttempt]) -> list[ClaimStatus]:
        pipe = self._r.pipeline()  # MULTI/EXEC: a finish between HGETALL and EXISTS must not look like a loss
        for step in steps:
            hkey, lkey = self._keys(step)
            pipe.hgetall(hkey)
            pipe.exists(lkey)
        replies = pipe.execute()
        return [_status(step, replies[2 * i], bool(replies[2 * i + 1])) for i, step in enumerate(steps)]

    def cancel_run(self, run_id: str) -> None:
        self._r.set(f"{PREFIX}cancel:{run_id}", "1", ex=RETENTION_S)
        self.record(run_id, "cancel_requested")

    def is_canceled(self, run_id: str) -> bool:
        return bool(self._r.exists(f"{PREFIX}cancel:{run_id}"))

    def record(self, run_id: str, event: str, **fields: Any) -> None:
        key = f"{PREFIX}log:{run_id}"
        self._r.rpush(key, log_entry(event, **fields))
        self._r.expire(key, RETENTION_S)

    def claim_log(self, run_id: str) -> list[dict[str, Any]]:
        return [json.loads(raw) for raw in self._r.lrange(f"{PREFIX}log:{run_id}", 0, -1)]

    def running(self) -> list[ClaimStatus]:
        idents = sorted(self._r.smembers(PREFIX + "running"))
        return self.statuses([StepAttempt.parse(str(ident)) for ident in idents])

    def heartbeat_worker(self, name: str, info: dict[str, Any], ttl_s: float) -> None:
        payload = json.dumps({**info, "name": name, "expires_at": time.time() + ttl_s})
        self._r.hset(PREFIX + "workers", name, payload)

    def forget_worker(self, name: str) -> None:
        self._r.hdel(PREFIX + "workers", name)

    def workers(self) -> list[dict[str, Any]]:
        now = time.time()
        found = [json.loads(raw) for raw in self._r.hgetall(PREFIX + "workers").values()]
        return sorted((w for w in found if w.get("expires_at", 0) > now), key=lambda w: str(w["name"]))

    # -- broker introspection for `status` ----------------------------------------------------
    def redis_client(self) -> redis.Redis:
        return self._r


def _entry(event: str, step: StepAttempt, **fields: Any) -> str:
    return log_entry(event, step_key=step.step_key, attempt=step.attempt, **fields)


def _status(step: StepAttempt, fields: dict[str, str], alive: bool) -> ClaimStatus:
    return ClaimStatus(
        step=step,
        state=fields.get("state"),
        lease_alive=alive,
        claims=int(fields.get("claims") or 0),
        worker=fields.get("worker"),
        outcome=fields.get("outcome"),
        error=fields.get("error") or None,
        claimed_at=float(fields["claimed_at"]) if fields.get("claimed_at") else None,
    )
