"""Lua scripts queued on a pipeline, on a single Redis or a Redis Cluster alike.

redis-py queues a registered script on a pipeline as EVALSHA (loading it first when
the server lacks it). Its Redis Cluster pipeline refuses EVALSHA, as it cannot load
scripts on the node a slot lives on; EVAL, which carries the script's text, it
routes by the first key like any command. So a script goes as EVAL there: a few
kilobytes more per call, for writes that must commit with the rest of a MULTI.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import redis.asyncio.cluster
import redis.cluster
from redis.commands.core import Script

_CLUSTER_PIPELINES = (redis.cluster.ClusterPipeline, redis.asyncio.cluster.ClusterPipeline)


def queue_script(script: Script, pipe: Any, keys: Sequence[Any], args: Sequence[Any]) -> Any:
    """Queue ``script`` with ``keys`` and ``args`` on ``pipe``; its reply comes with the
    pipeline's."""
    if isinstance(pipe, _CLUSTER_PIPELINES):
        return pipe.execute_command("EVAL", script.script, len(keys), *keys, *args)
    return script(keys, args, client=pipe)
