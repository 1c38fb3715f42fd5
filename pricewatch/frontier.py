"""The shared crawl frontier: a priority queue in Redis that any number of workers pop from.

Layout, per partition (every key from :class:`pricewatch.keys.Keys`, a partition's
keys behind one cluster hash tag; see :class:`_Base` for how the partitions share the
work):

- ``frontier_verify`` / ``frontier``: sorted sets of task keys scored by priority. Two
  lanes, so a verification crawl (a suspicious price report waiting for proof) is
  popped before any ordinary task whatever the priorities.
- ``frontier_tasks``: task key -> JSON payload of the queued task.
- ``frontier_inflight``: task key -> lease deadline (ms); ``frontier_inflight_tasks``:
  task key -> owner, lane, score and payload; ``frontier_worker(w)``: the keys worker
  ``w`` holds, so a heartbeat touches only its own leases.
- ``frontier_deferred``: a task pushed while the same key is in flight. It is not
  queued beside the in-flight one (two workers would crawl one product at once) and
  not dropped (it may carry a higher priority or a verification); it is queued when
  the in-flight task is acked, or merged with it when the task is nacked or its
  lease expires.

One entry per key: pushing a key again keeps the higher rank, where the verification
lane outranks the ordinary one and, within a lane, the higher priority wins (ties
keep what is there). The payload travels with the rank. Every mutation is one Lua
script, so concurrent workers never pop the same task and nothing is lost between
steps. Times are Redis server time unless ``now`` (ms) is passed, which tests do.
"""

from __future__ import annotations

import functools
import math
import re
from collections.abc import Iterable, Sequence
from typing import Any, Generic, TypeVar

import msgspec
import redis
import redis.asyncio

from pricewatch.asin import extract_asin, is_valid_asin
from pricewatch.keys import Keys, partition_of_key
from pricewatch.leader import FENCE_CHECK, RAISE_FENCE, fenced_call, fenced_error, token_arg
from pricewatch.markets import get_market, market_for_url
from pricewatch.models import CrawlTask, TaskKind, decode, encode
from pricewatch.storage.scripts import queue_script

DEFAULT_LEASE_MS = 120_000
# Tasks per script call: large enough to amortise the round trip, small enough that
# one call never blocks Redis for long.
CHUNK = 1_000

# what the scripts take as arguments
_Arg = str | bytes | int

VERIFY_LANE = "v"
ORDINARY_LANE = "p"

# Shared by every script. KEYS: tasks, verify, ordinary, inflight, inflight tasks,
# deferred. ARGV[1] is the worker key prefix: worker sets are derived inside the
# scripts (they share their partition's hash tag, so a cluster keeps them in one slot).
# In-flight and deferred entries are "worker\tlane\tscore\tpayload" and
# "lane\tscore\tpayload": compact JSON never holds a raw tab and worker names may not.
# Scores travel as the strings Redis and Python print, which round-trip exactly.
_PRELUDE = """
local K_TASKS, K_VERIFY, K_ORDINARY = KEYS[1], KEYS[2], KEYS[3]
local K_INFLIGHT, K_INFLIGHT_TASKS, K_DEFERRED = KEYS[4], KEYS[5], KEYS[6]
local WORKER_PREFIX = ARGV[1]

local function now_ms(given)
  local n = tonumber(given)
  if n then return n end
  local t = redis.call('TIME')
  return tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
end

local function split3(s)
  local i = string.find(s, '\\t', 1, true)
  local j = string.find(s, '\\t', i + 1, true)
  return string.sub(s, 1, i - 1), string.sub(s, i + 1, j - 1), string.sub(s, j + 1)
end

local function outranks(lane, score, cur_lane, cur_score)
  if lane ~= cur_lane then return lane == 'v' end
  return tonumber(score) > tonumber(cur_score)
end

-- Queue a task unless its key is queued with an equal or higher rank. 1 if new.
local function enqueue(k, lane, score, payload)
  local vs = redis.call('ZSCORE', K_VERIFY, k)
  if vs then
    if lane == 'v' and tonumber(score) > tonumber(vs) then
      redis.call('ZADD', K_VERIFY, score, k)
      redis.call('HSET', K_TASKS, k, payload)
    end
    return 0
  end
  local ps = redis.call('ZSCORE', K_ORDINARY, k)
  if lane == 'v' then
    if ps then redis.call('ZREM', K_ORDINARY, k) end
    redis.call('ZADD', K_VERIFY, score, k)
    redis.call('HSET', K_TASKS, k, payload)
  elseif not ps or tonumber(score) > tonumber(ps) then
    redis.call('ZADD', K_ORDINARY, score, k)
    redis.call('HSET', K_TASKS, k, payload)
  end
  if ps then return 0 end
  return 1
end

-- Keep the higher-ranked of a task and what was deferred behind it. 1 if new.
local function defer(k, lane, score, payload)
  local cur = redis.call('HGET', K_DEFERRED, k)
  if cur then
    local cl, cs = split3(cur)
    if not outranks(lane, score, cl, cs) then return 0 end
  end
  redis.call('HSET', K_DEFERRED, k, lane .. '\\t' .. score .. '\\t' .. payload)
  if cur then return 0 end
  return 1
end

-- Remove an in-flight task (only if held by `worker`, when given).
-- Returns lane, score, payload or nil.
local function take_inflight(k, worker)
  local e = redis.call('HGET', K_INFLIGHT_TASKS, k)
  if not e then return nil end
  local i = string.find(e, '\\t', 1, true)
  local owner = string.sub(e, 1, i - 1)
  if worker and owner ~= worker then return nil end
  redis.call('HDEL', K_INFLIGHT_TASKS, k)
  redis.call('ZREM', K_INFLIGHT, k)
  redis.call('SREM', WORKER_PREFIX .. owner, k)
  return split3(string.sub(e, i + 1))
end

-- After an in-flight task leaves: queue the better of it (lane may be nil: acked,
-- nothing to return) and whatever was deferred behind it.
local function release(k, lane, score, payload)
  local d = redis.call('HGET', K_DEFERRED, k)
  if d then
    redis.call('HDEL', K_DEFERRED, k)
    local dl, ds, dp = split3(d)
    if not lane or outranks(dl, ds, lane, score) then
      lane, score, payload = dl, ds, dp
    end
  end
  if lane then enqueue(k, lane, score, payload) end
end
"""


def _script(body: str) -> str:
    return _PRELUDE + body


# KEYS[7]: the partition's fence (the newest scheduler token it has seen). ARGV:
# prefix, max_size (0 = unbounded), fencing token ('' = unfenced: a push from anyone
# but the scheduler), then (key, lane, score, payload) per task. A stale token is
# refused before anything changes.
_PUSH = _script(
    "local FENCE_KEY, FENCE_TOKEN = KEYS[7], ARGV[3]\n"
    + FENCE_CHECK
    + """
local added = 0
for i = 4, #ARGV, 4 do
  local k, lane, score, payload = ARGV[i], ARGV[i + 1], ARGV[i + 2], ARGV[i + 3]
  if redis.call('HEXISTS', K_INFLIGHT_TASKS, k) == 1 then
    added = added + defer(k, lane, score, payload)
  else
    added = added + enqueue(k, lane, score, payload)
  end
end
local max_size = tonumber(ARGV[2])
if max_size > 0 then
  local excess = redis.call('ZCARD', K_ORDINARY) - max_size
  if excess > 0 then
    local gone = redis.call('ZPOPMIN', K_ORDINARY, excess)
    for i = 1, #gone, 2 do redis.call('HDEL', K_TASKS, gone[i]) end
  end
end
return added
"""
)

# ARGV: prefix, worker, count, now ('' = server time), lease_ms. Returns payloads.
_POP = _script("""
local worker, count = ARGV[2], tonumber(ARGV[3])
local deadline = string.format('%.0f', now_ms(ARGV[4]) + tonumber(ARGV[5]))
local worker_key = WORKER_PREFIX .. worker
local out = {}
local function take(zkey, lane, n)
  local got = redis.call('ZPOPMAX', zkey, n)
  for i = 1, #got, 2 do
    local k, score = got[i], got[i + 1]
    local payload = redis.call('HGET', K_TASKS, k)
    if payload then
      redis.call('HDEL', K_TASKS, k)
      redis.call('ZADD', K_INFLIGHT, deadline, k)
      redis.call('HSET', K_INFLIGHT_TASKS, k,
        worker .. '\\t' .. lane .. '\\t' .. score .. '\\t' .. payload)
      redis.call('SADD', worker_key, k)
      out[#out + 1] = payload
    end
  end
end
take(K_VERIFY, 'v', count)
if #out < count then take(K_ORDINARY, 'p', count - #out) end
return out
""")

# ARGV: prefix, worker, then task keys. Returns how many were held by the worker.
_ACK = _script("""
local done = 0
for i = 3, #ARGV do
  local k = ARGV[i]
  if take_inflight(k, ARGV[2]) then
    done = done + 1
    release(k, nil)
  end
end
return done
""")

# ARGV: prefix, worker, then task keys. Returns how many went back to the queue.
_NACK = _script("""
local done = 0
for i = 3, #ARGV do
  local k = ARGV[i]
  local lane, score, payload = take_inflight(k, ARGV[2])
  if lane then
    done = done + 1
    release(k, lane, score, payload)
  end
end
return done
""")

# ARGV: prefix, worker, now, lease_ms. Returns how many leases were extended.
_HEARTBEAT = _script("""
local deadline = string.format('%.0f', now_ms(ARGV[3]) + tonumber(ARGV[4]))
-- a worker's set and the lease set change together, so every member holds a lease
local held = redis.call('SMEMBERS', WORKER_PREFIX .. ARGV[2])
for _, k in ipairs(held) do
  redis.call('ZADD', K_INFLIGHT, 'XX', deadline, k)
end
return #held
""")

# ARGV: prefix, now, limit. Returns how many expired tasks went back to the queue.
_REQUEUE = _script("""
local expired = redis.call('ZRANGEBYSCORE', K_INFLIGHT, '-inf', now_ms(ARGV[2]),
  'LIMIT', 0, tonumber(ARGV[3]))
for _, k in ipairs(expired) do
  local lane, score, payload = take_inflight(k, nil)
  if lane then release(k, lane, score, payload) end
end
return #expired
""")


def task_key(task: CrawlTask) -> str:
    """The identity of a task on the frontier: its product, or its URL for discovery."""
    if task.kind is TaskKind.DISCOVER:
        if not task.url:
            raise ValueError(f"discovery task without a url: {task!r}")
        return task.url
    if not task.asin:
        raise ValueError(f"{task.kind.value} task without an asin: {task!r}")
    return task.product_key


def _check_worker(worker: str) -> str:
    # the tab separates fields of in-flight entries
    if not worker or "\t" in worker:
        raise ValueError(f"worker name must be non-empty and tab-free, got {worker!r}")
    return worker


def _push_args(tasks: Iterable[CrawlTask]) -> list[list[str | bytes]]:
    """Validate every task, then group (key, lane, score, payload) in script-sized chunks.

    All tasks are checked before anything is written, so a bad one loses nothing.
    msgspec Structs do not validate on construction; a decode round trip does, and
    guarantees that every payload on the frontier decodes when popped.
    """
    flat: list[str | bytes] = []
    for task in tasks:
        if not isinstance(task, CrawlTask):
            raise ValueError(f"not a CrawlTask: {task!r}")
        payload = encode(task)
        try:
            decode(payload, CrawlTask)
        except msgspec.ValidationError as exc:
            raise ValueError(f"invalid crawl task {task!r}: {exc}") from None
        if not math.isfinite(task.priority):
            raise ValueError(f"priority must be finite: {task!r}")
        lane = VERIFY_LANE if task.kind is TaskKind.VERIFY else ORDINARY_LANE
        flat += [task_key(task), lane, repr(float(task.priority)), payload]
    step = 4 * CHUNK
    return [flat[i : i + step] for i in range(0, len(flat), step)]


def _keys_of(tasks: Iterable[CrawlTask | str]) -> list[str]:
    return [t if isinstance(t, str) else task_key(t) for t in tasks]


def _now_arg(now: int | None) -> str:
    return "" if now is None else str(int(now))


_Client = TypeVar("_Client", redis.Redis, redis.asyncio.Redis)


class _Partition:
    """The keys of one frontier partition, as its scripts take them."""

    def __init__(self, keys: Keys, n: int) -> None:
        self.n = n
        self.tasks = keys.frontier_tasks(n)
        self.verify = keys.frontier_verify(n)
        self.ordinary = keys.frontier(n)
        self.inflight = keys.frontier_inflight(n)
        # in the order of the scripts' KEYS
        self.script_keys = [
            self.tasks,
            self.verify,
            self.ordinary,
            self.inflight,
            keys.frontier_inflight_tasks(n),
            keys.frontier_deferred(n),
        ]
        self.fence = keys.frontier_fence(n)
        self.push_keys = [*self.script_keys, self.fence]
        self.prefix = keys.frontier_worker_prefix(n)


class _Base(Generic[_Client]):
    """What the sync and async frontiers share: the partitions, and the keys and
    arguments of the same Lua scripts, over either client.

    The frontier is split into ``partitions`` by the streams' hash
    (:func:`pricewatch.keys.partition_of_key` of the task key): on a Redis Cluster the
    partitions spread over the nodes, while each script touches one partition's keys,
    which share a hash tag. Every process must use the same number (the streams'
    ``PRICEWATCH_STREAM_PARTITIONS``). A push goes to each task's partition; a pop
    visits the partitions in turn, starting one further each time, so that workers
    drain them evenly; the verification lane comes first within a partition, and
    every partition is visited within ``partitions`` pops."""

    def __init__(
        self,
        redis_client: _Client,
        keys: Keys,
        lease_ms: int = DEFAULT_LEASE_MS,
        max_size: int | None = None,
        *,
        partitions: int,
    ) -> None:
        if lease_ms <= 0:
            raise ValueError(f"lease_ms must be positive, got {lease_ms}")
        if max_size is not None and max_size <= 0:
            raise ValueError(f"max_size must be positive or None, got {max_size}")
        if partitions <= 0:
            raise ValueError(f"partitions must be positive, got {partitions}")
        self.redis: _Client = redis_client
        self.keys = keys
        self.lease_ms = lease_ms
        self.max_size = max_size
        self.partitions = [_Partition(keys, n) for n in range(partitions)]
        # each partition's share of the bound (rounded up: never below max_size)
        self._max_per_partition = 0 if max_size is None else -(-max_size // partitions)
        self._next_pop = 0
        # the newest fencing token this process raised every partition's fence to
        self._fenced_token: int | None = None
        # The sync and async clients both hand back callables for the same scripts.
        self._push: Any = redis_client.register_script(_PUSH)
        self._pop: Any = redis_client.register_script(_POP)
        self._ack: Any = redis_client.register_script(_ACK)
        self._nack: Any = redis_client.register_script(_NACK)
        self._heartbeat: Any = redis_client.register_script(_HEARTBEAT)
        self._requeue: Any = redis_client.register_script(_REQUEUE)
        self._raise_fence: Any = redis_client.register_script(RAISE_FENCE)

    def partition_of(self, key: str) -> _Partition:
        return self.partitions[partition_of_key(key, len(self.partitions))]

    def _by_partition(self, found: Iterable[str]) -> dict[int, list[str]]:
        grouped: dict[int, list[str]] = {}
        for key in found:
            grouped.setdefault(self.partition_of(key).n, []).append(key)
        return grouped

    def _push_calls(
        self, tasks: Iterable[CrawlTask], token: int | None
    ) -> list[tuple[_Partition, list[_Arg]]]:
        """Every task checked first (ValueError before anything is written), then one
        script call's keys and arguments per partition and chunk."""
        grouped: dict[int, list[CrawlTask]] = {}
        for task in tasks:
            if not isinstance(task, CrawlTask):
                raise ValueError(f"not a CrawlTask: {task!r}")
            grouped.setdefault(self.partition_of(task_key(task)).n, []).append(task)
        chunked = {n: _push_args(some) for n, some in grouped.items()}
        head: list[_Arg] = [str(self._max_per_partition), token_arg(token)]
        calls: list[tuple[_Partition, list[_Arg]]] = []
        for n, chunks in chunked.items():
            part = self.partitions[n]
            for piece in chunks:
                args: list[_Arg] = [part.prefix, *head]
                args.extend(piece)
                calls.append((part, args))
        return calls

    def _pop_order(self) -> list[_Partition]:
        start = self._next_pop
        self._next_pop = (start + 1) % len(self.partitions)
        return self.partitions[start:] + self.partitions[:start]

    def _needs_fence(self, token: int | None) -> bool:
        return token is not None and token != self._fenced_token

    # Script arguments, shared by the sync and async clients.
    def _pop_args(self, part: _Partition, worker: str, count: int, now: int | None) -> list[_Arg]:
        return [part.prefix, _check_worker(worker), count, _now_arg(now), self.lease_ms]

    def _held_calls(
        self, worker: str, tasks: Iterable[CrawlTask | str]
    ) -> list[tuple[list[str], list[_Arg]]]:
        """The keys and arguments of one ack or nack call per partition of ``tasks``."""
        name = _check_worker(worker)
        calls: list[tuple[list[str], list[_Arg]]] = []
        for n, found in self._by_partition(_keys_of(tasks)).items():
            args: list[_Arg] = [self.partitions[n].prefix, name]
            args.extend(found)
            calls.append((self.partitions[n].script_keys, args))
        return calls

    def _heartbeat_args(self, part: _Partition, worker: str, now: int | None) -> list[_Arg]:
        return [part.prefix, _check_worker(worker), _now_arg(now), self.lease_ms]

    def _requeue_args(self, part: _Partition, now: int | None, batch: int) -> list[_Arg]:
        return [part.prefix, _now_arg(now), batch]

    @staticmethod
    def _decode_all(payloads: Sequence[bytes | str]) -> list[CrawlTask]:
        return [decode(p, CrawlTask) for p in payloads]


class Frontier(_Base[redis.Redis]):
    """The crawl frontier over a synchronous Redis client.

    ``max_size`` bounds the ordinary lane (each partition holds its share): after each
    push the lowest priorities beyond it are dropped (the scheduler re-queues them when
    due again). The verification lane is never trimmed.
    """

    def push(self, tasks: Iterable[CrawlTask], token: int | None = None) -> int:
        """Queue tasks; returns how many created a new entry (queued or deferred).

        With ``token`` (the scheduler leader's fencing token) the push is refused with
        :class:`pricewatch.leader.FencedOut` once a newer token exists: before a token's
        first push every partition's fence is raised to it."""
        calls = self._push_calls(tasks, token)
        if not calls:
            return 0
        self.raise_fence(token)
        return sum(
            int(fenced_call(functools.partial(self._push, part.push_keys, args)))
            for part, args in calls
        )

    def raise_fence(self, token: int | None) -> None:
        """Make every partition refuse pushes with tokens older than ``token``
        (:class:`pricewatch.leader.FencedOut` if a newer one is there already)."""
        if not self._needs_fence(token):
            return
        for part in self.partitions:
            fenced_call(functools.partial(self._raise_fence, [part.fence], [token_arg(token)]))
        self._fenced_token = token

    def push_on(self, pipe: redis.client.Pipeline, tasks: Iterable[CrawlTask]) -> int:
        """An unfenced :meth:`push` queued on the caller's pipeline or transaction: the
        tasks are on the frontier exactly when the caller's other writes are. Every task
        is checked first (ValueError before anything is queued); returns how many
        script calls were queued, whose replies (new entries) come with the caller's."""
        calls = self._push_calls(tasks, None)
        for part, args in calls:
            queue_script(self._push, pipe, part.push_keys, args)
        return len(calls)

    def pop(self, worker: str, count: int = 1, now: int | None = None) -> list[CrawlTask]:
        """Take up to ``count`` tasks, verification lane first, leased to ``worker``."""
        if count <= 0:
            return []
        got: list[bytes] = []
        for part in self._pop_order():
            got += self._pop(part.script_keys, self._pop_args(part, worker, count - len(got), now))
            if len(got) >= count:
                break
        return self._decode_all(got)

    def ack(self, worker: str, tasks: Iterable[CrawlTask | str]) -> int:
        """Done with these tasks (or task keys). Returns how many ``worker`` still held:
        a task whose lease expired and went back to the queue is not acked."""
        return sum(int(self._ack(keys, args)) for keys, args in self._held_calls(worker, tasks))

    def nack(self, worker: str, tasks: Iterable[CrawlTask | str]) -> int:
        """Give tasks back (a ban, a shutdown) with the rank they were popped with."""
        return sum(int(self._nack(keys, args)) for keys, args in self._held_calls(worker, tasks))

    def heartbeat(self, worker: str, now: int | None = None) -> int:
        """Extend the leases of every task ``worker`` holds; returns how many."""
        return sum(
            int(self._heartbeat(part.script_keys, self._heartbeat_args(part, worker, now)))
            for part in self.partitions
        )

    def requeue_expired(self, now: int | None = None, batch: int = CHUNK) -> int:
        """Return tasks whose lease ran out (their worker died) to the queue."""
        total = 0
        for part in self.partitions:
            while True:
                n = int(self._requeue(part.script_keys, self._requeue_args(part, now, batch)))
                total += n
                if n < batch:
                    break
        return total

    def size(self) -> int:
        """Queued tasks, both lanes (not those in flight or deferred)."""
        pipe = self.redis.pipeline(transaction=False)
        for part in self.partitions:
            pipe.zcard(part.verify)
            pipe.zcard(part.ordinary)
        return sum(pipe.execute())

    def inflight_size(self) -> int:
        pipe = self.redis.pipeline(transaction=False)
        for part in self.partitions:
            pipe.zcard(part.inflight)
        return sum(pipe.execute())

    def is_queued(self, key: str) -> bool:
        """Whether the task ``key`` (a product's ``market:asin``) waits on the frontier."""
        return bool(self.redis.hexists(self.partition_of(key).tasks, key))

    def track(
        self, inputs: Iterable[str], priority: float, default_market: str = "us"
    ) -> list[CrawlTask]:
        """Queue Amazon URLs / ASINs given by a user; returns the tasks queued."""
        tasks = tasks_for_inputs(inputs, priority, default_market)
        self.push(tasks)
        return tasks


class AsyncFrontier(_Base[redis.asyncio.Redis]):
    """:class:`Frontier` over ``redis.asyncio``: the same scripts, awaited."""

    async def push(self, tasks: Iterable[CrawlTask], token: int | None = None) -> int:
        calls = self._push_calls(tasks, token)
        if not calls:
            return 0
        await self.raise_fence(token)
        total = 0
        for part, args in calls:
            try:
                total += int(await self._push(part.push_keys, args))
            except redis.ResponseError as exc:
                raise fenced_error(exc) from None
        return total

    async def raise_fence(self, token: int | None) -> None:
        if not self._needs_fence(token):
            return
        for part in self.partitions:
            try:
                await self._raise_fence([part.fence], [token_arg(token)])
            except redis.ResponseError as exc:
                raise fenced_error(exc) from None
        self._fenced_token = token

    async def pop(self, worker: str, count: int = 1, now: int | None = None) -> list[CrawlTask]:
        if count <= 0:
            return []
        got: list[bytes] = []
        for part in self._pop_order():
            args = self._pop_args(part, worker, count - len(got), now)
            got += await self._pop(part.script_keys, args)
            if len(got) >= count:
                break
        return self._decode_all(got)

    async def ack(self, worker: str, tasks: Iterable[CrawlTask | str]) -> int:
        total = 0
        for keys, args in self._held_calls(worker, tasks):
            total += int(await self._ack(keys, args))
        return total

    async def nack(self, worker: str, tasks: Iterable[CrawlTask | str]) -> int:
        total = 0
        for keys, args in self._held_calls(worker, tasks):
            total += int(await self._nack(keys, args))
        return total

    async def heartbeat(self, worker: str, now: int | None = None) -> int:
        total = 0
        for part in self.partitions:
            args = self._heartbeat_args(part, worker, now)
            total += int(await self._heartbeat(part.script_keys, args))
        return total

    async def requeue_expired(self, now: int | None = None, batch: int = CHUNK) -> int:
        total = 0
        for part in self.partitions:
            while True:
                args = self._requeue_args(part, now, batch)
                n = int(await self._requeue(part.script_keys, args))
                total += n
                if n < batch:
                    break
        return total

    async def size(self) -> int:
        total = 0
        for part in self.partitions:
            total += int(await self.redis.zcard(part.verify)) + int(
                await self.redis.zcard(part.ordinary)
            )
        return total

    async def inflight_size(self) -> int:
        total = 0
        for part in self.partitions:
            total += int(await self.redis.zcard(part.inflight))
        return total

    async def is_queued(self, key: str) -> bool:
        return bool(await self.redis.hexists(self.partition_of(key).tasks, key))


# "de:B000000000", the product key form used throughout the project
_PRODUCT_KEY = re.compile(r"([a-z]{2}):([0-9A-Za-z]{10})")


def _parse_input(text: str, default_market: str) -> tuple[str, str]:
    """(market, asin) for one user input, or ValueError saying what is wrong with it."""
    text = text.strip()
    if not text:
        raise ValueError("empty input")
    match = _PRODUCT_KEY.fullmatch(text)
    if match:
        market = get_market(match.group(1)).code
        asin = match.group(2).upper()
        if not is_valid_asin(asin):
            raise ValueError(f"{asin!r} is not a valid ASIN")
        return market, asin
    if is_valid_asin(text.upper()):
        return default_market, text.upper()
    url = text if "://" in text else "https://" + text
    found = market_for_url(url)
    if found is None:
        raise ValueError("neither an ASIN nor a URL of a known Amazon marketplace")
    asin_found = extract_asin(url)
    if asin_found is None:
        raise ValueError(f"no ASIN in this {found.domain} URL")
    return found.code, asin_found


def discovery_tasks(markets: Iterable[str], priority: float = 0.0) -> list[CrawlTask]:
    """The best-seller and new-release listings of each market, as discovery tasks."""
    return [
        CrawlTask(market=market.code, kind=TaskKind.DISCOVER, priority=priority, url=url)
        for market in map(get_market, markets)
        for url in market.listing_urls
    ]


def tasks_for_inputs(
    inputs: Iterable[str], priority: float, default_market: str = "us"
) -> list[CrawlTask]:
    """Amazon product URLs, bare ASINs (in ``default_market``) or ``market:ASIN`` keys
    -> product CrawlTasks, one per product in input order.

    Every input is checked first; if any is bad, a ValueError names each bad input
    and why, and no task is returned.
    """
    market_default = get_market(default_market).code
    if not math.isfinite(priority):
        raise ValueError(f"priority must be finite, got {priority!r}")
    tasks: dict[tuple[str, str], CrawlTask] = {}
    problems: list[str] = []
    for raw in inputs:
        if not isinstance(raw, str):
            problems.append(f"{raw!r}: not a string")
            continue
        try:
            market, asin = _parse_input(raw, market_default)
        except ValueError as exc:
            problems.append(f"{raw!r}: {exc}")
            continue
        tasks.setdefault(
            (market, asin), CrawlTask(market=market, asin=asin, priority=float(priority))
        )
    if problems:
        raise ValueError("cannot track " + "; ".join(problems))
    return list(tasks.values())
