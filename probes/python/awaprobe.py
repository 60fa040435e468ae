#!/usr/bin/env python3
"""awacompat probe for the awa Python SDK (PyPI ``awa-pg``, import ``awa``).

Implements probes/PROTOCOL.md (protocol 1): ``awaprobe.py SPEC.json`` runs the spec's steps in
order against the installed awa-pg release and writes one JSON event per line to stdout.

One source serves every awa-pg release from 0.5.7 on. Differences between releases are found by
feature detection (``inspect.signature``, ``hasattr``), never by comparing version numbers.

Only the SDK's public client API is used; the probe never sends SQL of its own.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import inspect
import json
import logging
import os
import re
import sys
import threading
import traceback

PROTOCOL = 1
PROBE = "python"

# Default deadline of a non-work step that has no "timeout_ms" of its own. Work steps without
# "timeout_ms" (or with 0) have no deadline: they end on their handled count or on stdin.
DEFAULT_STEP_TIMEOUT_MS = 60_000
# Grace period for the worker's graceful shutdown at the end of a work step.
SHUTDOWN_TIMEOUT_MS = 5_000

STORAGE_ROLES = ("auto", "canonical_drain", "queue_storage_target")
# A work step's maintenance knobs, by the name the step and the SDK's start() both use: how
# often the client heartbeats its running jobs, how stale a heartbeat must be before the
# maintenance leader rescues the job, how often the leader looks, and how often a follower
# tries to become leader.
MAINTENANCE_KNOBS = ("heartbeat_interval_ms", "heartbeat_staleness_ms",
                     "heartbeat_rescue_interval_ms", "leader_election_interval_ms")
BEHAVIORS = ("complete", "fail_once", "hold")

# ── Output ──────────────────────────────────────────────────────────────────────────────────────
#
# Events go to a private duplicate of the original stdout; fd 1 and sys.stdout are pointed at
# stderr so that nothing else (the SDK, a native library, a stray print) can ever write to the
# event stream.

_events = None
_emit_lock = threading.Lock()


def _setup_streams() -> None:
    global _events
    sys.stdout.flush()
    fd = os.dup(1)
    os.dup2(2, 1)
    sys.stdout = sys.stderr
    _events = os.fdopen(fd, "w", encoding="utf-8", buffering=1)


def emit(event: dict) -> None:
    line = json.dumps(event, default=str, separators=(",", ":"), ensure_ascii=False)
    with _emit_lock:
        _events.write(line + "\n")
        _events.flush()


def log(msg: str) -> None:
    try:
        sys.stderr.write("awaprobe: " + msg + "\n")
        sys.stderr.flush()
    except Exception:
        pass


def finish(code: int) -> None:
    """Flush and leave at once (a blocked stdin reader or SDK threads must not hold us up)."""
    try:
        if _events is not None:
            _events.flush()
        sys.stderr.flush()
    finally:
        os._exit(code)


def fatal(message: str) -> None:
    try:
        if _events is not None:
            emit({"event": "fatal", "message": message})
        else:  # pragma: no cover - streams not set up yet
            print(json.dumps({"event": "fatal", "message": message}), flush=True)
    finally:
        finish(2)


class BadSpec(Exception):
    """The spec cannot be run as written: a broken caller, reported as fatal."""


# ── Error classification ────────────────────────────────────────────────────────────────────────

_SQLSTATE_RES = (
    re.compile(r"SQLSTATE[\s:=]*\(?\"?([0-9A-Z]{5})\b"),
    re.compile(r"\b(?:sqlstate|error code|code)[\s:=]+\"?([0-9A-Z]{5})\b", re.IGNORECASE),
)


def sqlstate_of(exc: BaseException) -> str:
    for attr in ("sqlstate", "pgcode", "code"):
        value = getattr(exc, attr, None)
        if isinstance(value, str) and re.fullmatch(r"[0-9A-Z]{5}", value):
            return value
    text = str(exc)
    for rx in _SQLSTATE_RES:
        m = rx.search(text)
        if m and re.search(r"\d", m.group(1)):
            return m.group(1)
    return ""


class StepTimeout(Exception):
    pass


class ProbeBug(Exception):
    """An exception that means the probe itself is broken (reported as fatal)."""


def error_event(op: str, ref, exc: BaseException) -> dict:
    import awa

    if isinstance(exc, StepTimeout):
        cls, message, sqlstate = "Timeout", str(exc), ""
    elif isinstance(exc, awa.AwaError):
        cls, message, sqlstate = type(exc).__name__, str(exc), sqlstate_of(exc)
    else:
        # Raised by the SDK but outside its exception hierarchy (e.g. a RuntimeError from the
        # native runtime): AwaError is the protocol's class for "no closer class".
        cls = "AwaError"
        message = "%s: %s" % (type(exc).__name__, exc)
        sqlstate = sqlstate_of(exc)
    ev = {"event": "error", "op": op}
    if ref is not None:
        ev["ref"] = ref
    ev.update({"class": cls, "message": message, "sqlstate": sqlstate})
    return ev


def in_thread(fn, *args):
    """Run a blocking call on a daemon thread. Unlike asyncio.to_thread, a call abandoned at its
    deadline never holds up the probe's exit (asyncio.run joins the default executor)."""
    loop = asyncio.get_running_loop()
    fut = loop.create_future()

    def settle(ok, value):
        if not fut.done():
            (fut.set_result if ok else fut.set_exception)(value)

    def run():
        try:
            result = fn(*args)
        except BaseException as e:  # handed to the awaiting step
            loop.call_soon_threadsafe(settle, False, e)
        else:
            loop.call_soon_threadsafe(settle, True, result)

    threading.Thread(target=run, name="awaprobe-call", daemon=True).start()
    return fut


async def sdk(awaitable_factory, deadline_ms, step_timeout_ms=None):
    """Run one SDK call under a deadline; re-raise errors that mean the probe is broken.

    A call abandoned at its deadline may still complete inside the SDK (cancelling the Python
    awaitable does not stop the native future): Timeout means "no answer in time", not "not done".
    """
    try:
        if deadline_ms:
            try:
                return await asyncio.wait_for(awaitable_factory(), deadline_ms / 1000.0)
            except asyncio.TimeoutError:
                raise StepTimeout(
                    "step deadline of %d ms passed" % (step_timeout_ms or deadline_ms)
                ) from None
        return await awaitable_factory()
    except (TypeError, AttributeError, NameError, KeyError, AssertionError) as e:
        import awa

        if isinstance(e, awa.AwaError):
            raise
        raise ProbeBug("%s: %s\n%s" % (type(e).__name__, e, traceback.format_exc())) from e


# ── Value conversion ────────────────────────────────────────────────────────────────────────────

_CAMEL = re.compile(r"(?<=[a-z0-9])([A-Z])")


def state_str(state):
    """The SDK's job state as the protocol's lowercase word (``JobState`` str() is lowercase)."""
    if state is None:
        return None
    if isinstance(state, str):
        text = state
    else:
        text = str(state)
        if text.startswith("JobState.") or not text:
            text = getattr(state, "name", None) or text.split(".", 1)[-1]
    if "." in text:
        text = text.split(".", 1)[1]
    return _CAMEL.sub(r"_\1", text).lower()


def jsonable(value):
    """Plain JSON value (dicts/lists from the SDK pass through; anything else via str)."""
    return json.loads(json.dumps(value, default=str))


def job_obj(job) -> dict:
    return {
        "id": getattr(job, "id", None),
        "kind": getattr(job, "kind", None),
        "queue": getattr(job, "queue", None),
        "state": state_str(getattr(job, "state", None)),
        "priority": getattr(job, "priority", None),
        "attempt": getattr(job, "attempt", None),
        "max_attempts": getattr(job, "max_attempts", None),
        "args": jsonable(getattr(job, "args", None)),
        "tags": jsonable(list(getattr(job, "tags", None) or [])),
        "metadata": jsonable(getattr(job, "metadata", None)),
    }


def stat_obj(stat) -> dict:
    return {
        "queue": getattr(stat, "queue", None),
        "available": getattr(stat, "available", None),
        "scheduled": getattr(stat, "scheduled", None),
        "running": getattr(stat, "running", None),
        "retryable": getattr(stat, "retryable", None),
        "failed": getattr(stat, "failed", None),
        "completed_last_hour": getattr(stat, "completed_last_hour", None),
        "total_queued": getattr(stat, "total_queued", None),
    }


_FRACTION = re.compile(r"(\.\d{6})\d+")


def parse_rfc3339(text: str) -> dt.datetime:
    """RFC 3339 -> tz-aware datetime (Python 3.10's fromisoformat knows neither Z nor ns)."""
    if not isinstance(text, str):
        raise BadSpec("run_at must be an RFC 3339 string, got %r" % (text,))
    s = text.strip()
    if s[-1:] in ("Z", "z"):
        s = s[:-1] + "+00:00"
    s = _FRACTION.sub(r"\1", s)
    if len(s) > 10 and s[10] in ("t", " "):
        s = s[:10] + "T" + s[11:]
    try:
        value = dt.datetime.fromisoformat(s)
    except ValueError as e:
        raise BadSpec("run_at %r is not RFC 3339: %s" % (text, e)) from None
    if value.tzinfo is None:
        value = value.replace(tzinfo=dt.timezone.utc)
    return value


def accepts_kwarg(fn, name: str) -> bool:
    try:
        params = inspect.signature(fn).parameters
    except (TypeError, ValueError):
        return False
    if name in params:
        return True
    return False


# ── Spec validation ─────────────────────────────────────────────────────────────────────────────


def _need(step: dict, key: str, types, i: int, nullable=False):
    if key not in step or (step[key] is None and not nullable):
        raise BadSpec("step %d (%s): missing %r" % (i, step.get("op"), key))
    value = step[key]
    if value is None:
        return
    if not isinstance(value, types) or isinstance(value, bool) and bool not in _tuple(types):
        raise BadSpec("step %d (%s): %r has the wrong type" % (i, step.get("op"), key))


def _opt(step: dict, key: str, types, i: int):
    if step.get(key) is not None:
        _need(step, key, types, i)


def _tuple(types):
    return types if isinstance(types, tuple) else (types,)


def validate(spec) -> None:
    if not isinstance(spec, dict):
        raise BadSpec("spec must be a JSON object")
    if spec.get("protocol") != PROTOCOL:
        raise BadSpec("unsupported protocol %r (this probe speaks %d)" % (spec.get("protocol"), PROTOCOL))
    for key in ("database_url", "kind"):
        if not isinstance(spec.get(key), str) or not spec[key]:
            raise BadSpec("spec needs a non-empty string %r" % key)
    if spec.get("exit") not in (None, "immediate", "normal"):
        raise BadSpec("unknown exit %r (immediate or normal)" % (spec.get("exit"),))
    steps = spec.get("steps")
    if not isinstance(steps, list):
        raise BadSpec("spec needs a list 'steps'")
    for i, step in enumerate(steps):
        if not isinstance(step, dict) or not isinstance(step.get("op"), str):
            raise BadSpec("step %d must be an object with a string 'op'" % i)
        op = step["op"]
        _opt(step, "timeout_ms", int, i)
        if op == "enqueue":
            _need(step, "ref", (str, int), i)
            _need(step, "queue", str, i)
            _need(step, "args", dict, i)
            _opt(step, "priority", int, i)
            _opt(step, "max_attempts", int, i)
            _opt(step, "tags", list, i)
            if not all(isinstance(t, str) for t in step.get("tags") or []):
                raise BadSpec("step %d (enqueue): 'tags' must be strings" % i)
            _opt(step, "metadata", dict, i)
            _opt(step, "run_at", str, i)
            if step.get("unique") is not None and not isinstance(step["unique"], (dict, bool)):
                raise BadSpec("step %d (enqueue): 'unique' must be an object" % i)
            if step.get("run_at") is not None:
                parse_rfc3339(step["run_at"])
        elif op == "work":
            _need(step, "queue", str, i)
            _opt(step, "max_workers", int, i)
            _opt(step, "handled", int, i)
            _opt(step, "poll_ms", int, i)
            _opt(step, "health_ms", int, i)
            _opt(step, "handle_ms", int, i)
            for knob in MAINTENANCE_KNOBS:
                _opt(step, knob, int, i)
            behavior = step.get("behavior") or "complete"
            if behavior not in BEHAVIORS:
                raise BadSpec("step %d (work): unknown behavior %r" % (i, behavior))
            role = step.get("storage_role")
            if role is not None and role not in STORAGE_ROLES:
                raise BadSpec("step %d (work): unknown storage_role %r" % (i, role))
        elif op == "cancel":
            _need(step, "job_id", int, i)
        elif op == "cancel_by_unique_key":
            _opt(step, "args", dict, i)
            _opt(step, "queue", str, i)
            _opt(step, "period_bucket", int, i)
        elif op == "get_job":
            _need(step, "job_id", int, i)
        elif op == "list_jobs":
            _opt(step, "queue", str, i)
            _opt(step, "state", str, i)
            _opt(step, "limit", int, i)
        elif op in ("queue_stats", "migrate"):
            pass
        elif op == "sleep":
            _need(step, "ms", (int, float), i)
        else:
            raise BadSpec("step %d: unknown op %r" % (i, op))


# ── stdin ───────────────────────────────────────────────────────────────────────────────────────


class Stdin:
    """Reads stdin on a daemon thread (raw fd reads, so no Python I/O lock is ever held).

    A ``stop`` line ends the running work step; a ``stop`` outside a work step is dropped. End of
    file is sticky: it ends the running work step and every later one at once.
    """

    def __init__(self, loop: asyncio.AbstractEventLoop):
        self.loop = loop
        self.eof = False
        self.active: asyncio.Event | None = None
        threading.Thread(target=self._run, name="awaprobe-stdin", daemon=True).start()

    def _run(self):
        buf = b""
        while True:
            try:
                chunk = os.read(0, 4096)
            except InterruptedError:
                continue
            except OSError:
                chunk = b""
            if not chunk:
                self.loop.call_soon_threadsafe(self._on_eof)
                return
            buf += chunk
            while b"\n" in buf:
                line, buf = buf.split(b"\n", 1)
                if line.strip() == b"stop":
                    self.loop.call_soon_threadsafe(self._on_stop)
                elif line.strip():
                    self.loop.call_soon_threadsafe(log, "ignoring stdin line %r" % line[:80])

    def _on_stop(self):
        if self.active is not None:
            self.active.set()
        else:
            log("stdin 'stop' outside a work step: ignored")

    def _on_eof(self):
        self.eof = True
        if self.active is not None:
            self.active.set()

    def begin(self) -> asyncio.Event:
        ev = asyncio.Event()
        if self.eof:
            ev.set()
        self.active = ev
        return ev

    def end(self):
        self.active = None


# ── The probe ───────────────────────────────────────────────────────────────────────────────────


class Probe:
    def __init__(self, awa, spec: dict, version: str):
        self.awa = awa
        self.spec = spec
        # The spec file on disk has the password removed; the real URL is in the environment.
        self.url = os.environ.get("AWACOMPAT_DATABASE_URL") or spec["database_url"]
        self.kind = spec["kind"]
        self.version = version
        self.client = None
        self.stdin: Stdin | None = None

    async def new_client(self, deadline_ms, step_timeout_ms=None):
        # The constructor connects synchronously (up to 30 s): keep the event loop free.
        return await sdk(lambda: in_thread(self.awa.AsyncClient, self.url), deadline_ms, step_timeout_ms)

    async def shared_client(self, deadline_ms):
        if self.client is None:
            self.client = await self.new_client(deadline_ms)
        return self.client

    async def run(self) -> None:
        self.stdin = Stdin(asyncio.get_running_loop())
        for step in self.spec["steps"]:
            op = step["op"]
            ref = step.get("ref")
            try:
                if op == "work":
                    await self.work(step)
                elif op == "sleep":
                    await asyncio.sleep(max(0.0, float(step["ms"])) / 1000.0)
                else:
                    deadline = step.get("timeout_ms") or DEFAULT_STEP_TIMEOUT_MS
                    await getattr(self, "op_" + op)(step, deadline)
            except ProbeBug:
                raise
            except BadSpec:
                raise
            except Exception as e:  # an awa error (or the step's deadline): a result
                emit(error_event(op, ref, e))
        if self.client is not None:
            try:
                await asyncio.wait_for(self.client.close(), 10)
            except Exception as e:
                log("closing the client failed: %r" % (e,))

    # enqueue ─────────────────────────────────────────────────────────────────
    async def op_enqueue(self, step, deadline):
        kwargs = {"kind": self.kind, "queue": step["queue"]}
        for key in ("priority", "max_attempts", "tags", "metadata"):
            if step.get(key) is not None:
                kwargs[key] = step[key]
        if step.get("run_at") is not None:
            kwargs["run_at"] = parse_rfc3339(step["run_at"])
        unique = step.get("unique")
        if unique is True:
            kwargs["unique_opts"] = {}
        elif isinstance(unique, dict):
            kwargs["unique_opts"] = {k: v for k, v in unique.items() if v is not None}
        client = await self.shared_client(deadline)
        job = await sdk(lambda: client.insert(dict(step["args"]), **kwargs), deadline)
        emit({"event": "enqueued", "ref": step["ref"], "job_id": job.id, "state": state_str(job.state)})

    # cancel ──────────────────────────────────────────────────────────────────
    async def op_cancel(self, step, deadline):
        client = await self.shared_client(deadline)
        job = await sdk(lambda: client.cancel(step["job_id"]), deadline)
        emit(self._cancelled(step, job))

    async def op_cancel_by_unique_key(self, step, deadline):
        client = await self.shared_client(deadline)
        args = step.get("args")
        job = await sdk(
            lambda: client.cancel_by_unique_key(
                self.kind,
                queue=step.get("queue"),
                args=dict(args) if args is not None else None,
                period_bucket=step.get("period_bucket"),
            ),
            deadline,
        )
        emit(self._cancelled(step, job))

    @staticmethod
    def _cancelled(step, job):
        ev = {"event": "cancelled", "ref": step.get("ref")}
        if job is None:
            ev["job_id"] = None
        else:
            ev["job_id"] = job.id
            ev["state"] = state_str(job.state)
        return ev

    # reads ───────────────────────────────────────────────────────────────────
    async def op_get_job(self, step, deadline):
        client = await self.shared_client(deadline)
        job = await sdk(lambda: client.get_job(step["job_id"]), deadline)
        emit({"event": "read", "ref": step.get("ref"), "job": job_obj(job) if job is not None else None})

    async def op_list_jobs(self, step, deadline):
        client = await self.shared_client(deadline)
        kwargs = {}
        for key in ("state", "queue", "limit"):
            if step.get(key) is not None:
                kwargs[key] = step[key]
        jobs = await sdk(lambda: client.list_jobs(**kwargs), deadline)
        emit({"event": "read", "ref": step.get("ref"), "jobs": [job_obj(j) for j in jobs or []]})

    async def op_queue_stats(self, step, deadline):
        client = await self.shared_client(deadline)
        stats = await sdk(lambda: client.queue_stats(), deadline)
        emit({"event": "read", "ref": step.get("ref"), "stats": [stat_obj(s) for s in stats or []]})

    # migrate ─────────────────────────────────────────────────────────────────
    async def op_migrate(self, step, deadline):
        client = await self.shared_client(deadline)
        await sdk(lambda: client.migrate(), deadline)
        emit({"event": "migrated", "ref": step.get("ref")})

    # work ────────────────────────────────────────────────────────────────────
    async def work(self, step):
        awa = self.awa
        loop = asyncio.get_running_loop()
        queue = step["queue"]
        max_workers = step.get("max_workers") or 1
        behavior = step.get("behavior") or "complete"
        limit = step.get("handled") or 0
        timeout_ms = step.get("timeout_ms") or 0
        role = step.get("storage_role")
        poll_ms = step.get("poll_ms") or 0
        health_ms = step.get("health_ms") or 0
        handle_ms = step.get("handle_ms") or 0
        t0 = loop.time()

        def remaining_ms():
            if not timeout_ms:
                return None
            return max(1, int(timeout_ms - (loop.time() - t0) * 1000))

        count_reached = asyncio.Event()
        release = asyncio.Event()  # set when the step ends: held handlers return
        gate = asyncio.Event()  # set once "ready" (or the start error) is out
        handled = [0]

        async def handler(job):
            await gate.wait()
            attempt = getattr(job, "attempt", None)
            if behavior == "fail_once" and attempt == 1:
                result = "retry"
            elif behavior == "hold":
                result = "held"
            else:
                result = "completed"
            handled[0] += 1
            emit({
                "event": "handled",
                "job_id": getattr(job, "id", None),
                "attempt": attempt,
                "args": jsonable(getattr(job, "args", None)),
                "result": result,
            })
            if limit and handled[0] >= limit:
                count_reached.set()
            if result == "retry":
                # Shortest retry the SDK allows: the executor clamps to >= 0 s.
                return awa.RetryAfter(0)
            if result == "held":
                await release.wait()
            elif result == "completed" and handle_ms:
                try:
                    await asyncio.sleep(handle_ms / 1000.0)
                except asyncio.CancelledError:
                    emit({"event": "interrupted", "job_id": getattr(job, "id", None), "attempt": attempt})
                    raise
            return None

        stdin_ev = self.stdin.begin()
        client = None
        started = False
        health_task = None
        try:
            # Client, registration and start, all within the step's deadline.
            client = await self.new_client(remaining_ms(), timeout_ms)
            # dict as the args type: the SDK hands the decoded JSON object to the handler
            # unchanged (only pydantic models and dataclasses are converted).
            client.task(dict, kind=self.kind, queue=queue)(handler)

            start_kwargs = {}
            if poll_ms:
                if accepts_kwarg(client.start, "poll_interval_ms"):
                    start_kwargs["poll_interval_ms"] = poll_ms
                else:
                    emit({"event": "note",
                          "message": "poll_ms ignored: not supported by %s" % self.version})
            for knob in MAINTENANCE_KNOBS:
                if not step.get(knob):
                    continue
                if accepts_kwarg(client.start, knob):
                    start_kwargs[knob] = step[knob]
                else:
                    emit({"event": "note",
                          "message": "%s ignored: not supported by %s" % (knob, self.version)})
            if role is not None:
                if accepts_kwarg(client.start, "storage_transition_role"):
                    start_kwargs["storage_transition_role"] = role
                else:
                    emit({"event": "note",
                          "message": "storage_role ignored: not supported by %s" % self.version})
            await sdk(lambda: client.start([(queue, max_workers)], **start_kwargs), remaining_ms(), timeout_ms)
            started = True
            emit({"event": "ready"})
            gate.set()

            if health_ms:
                health_task = asyncio.ensure_future(self.report_health(client, queue, health_ms))
            waits = {
                asyncio.ensure_future(count_reached.wait()): "count",
                asyncio.ensure_future(stdin_ev.wait()): "stdin",
            }
            try:
                done, _ = await asyncio.wait(
                    list(waits), timeout=(remaining_ms() / 1000.0) if timeout_ms else None,
                    return_when=asyncio.FIRST_COMPLETED,
                )
            finally:
                for fut in waits:
                    fut.cancel()
            if count_reached.is_set():
                reason = "count"
            elif stdin_ev.is_set():
                reason = "stdin"
            else:
                reason = "timeout"
        finally:
            if health_task is not None:
                health_task.cancel()
            self.stdin.end()
            release.set()
            gate.set()
            if client is not None:
                try:
                    await sdk(lambda: client.shutdown(timeout_ms=SHUTDOWN_TIMEOUT_MS),
                              SHUTDOWN_TIMEOUT_MS + 10_000)
                except ProbeBug:
                    raise
                except Exception as e:
                    if started:
                        emit(error_event("work", step.get("ref"), e))
                    else:
                        log("shutdown after a failed start: %r" % (e,))
                try:
                    await asyncio.wait_for(client.close(), 10)
                except Exception as e:
                    log("closing the worker client failed: %r" % (e,))
        emit({"event": "stopped", "handled": handled[0], "reason": reason})


    async def report_health(self, client, queue, every_ms):
        """Every every_ms, the running client's own health check as a `health` event: awa's
        word that its poll loop and heartbeat are alive, and how many jobs it sees available in
        the step's queue (the evidence an inert verdict rests on)."""
        while True:
            await asyncio.sleep(every_ms / 1000.0)
            try:
                h = await asyncio.wait_for(client.health_check(), 5)
            except asyncio.CancelledError:
                raise
            except Exception as e:  # a failed check is evidence too: no health event
                log("health check failed: %r" % (e,))
                continue
            ev = {"event": "health",
                  "poll_loop_alive": bool(getattr(h, "poll_loop_alive", False)),
                  "heartbeat_alive": bool(getattr(h, "heartbeat_alive", False)),
                  "postgres_connected": bool(getattr(h, "postgres_connected", False)),
                  "shutting_down": bool(getattr(h, "shutting_down", False)),
                  "leader": bool(getattr(h, "leader", False))}
            q = (getattr(h, "queues", None) or {}).get(queue)
            if q is not None:
                ev["available"] = getattr(q, "available", None)
                ev["in_flight"] = getattr(q, "in_flight", None)
            emit(ev)


# ── main ────────────────────────────────────────────────────────────────────────────────────────


_version = None


def awa_version(awa) -> str:
    global _version
    if _version is None:
        try:
            from importlib import metadata

            _version = metadata.version("awa-pg")
        except Exception:
            _version = str(getattr(awa, "__version__", "unknown"))
    return _version


# ── Fork server ─────────────────────────────────────────────────────────────────────────────────
#
# PROTOCOL.md, Fork server: ``awaprobe.py --serve SOCKET`` imports awa once and forks a child per
# request. A child is a probe process of its own (its own pid, process group and session, its
# own stdin, stdout and stderr, its own database connections); it only skips the interpreter's
# start and the imports. The server itself never connects to a database and starts no thread,
# so a fork copies a single-threaded process.

def serve(path: str) -> list:
    """Serve probe requests on the Unix socket at path. Returns only in a forked child, with the
    argv the child is to run main() with; the server itself leaves through os._exit."""
    import array
    import ctypes
    import selectors
    import signal
    import socket

    try:
        import awa
    except Exception as e:
        log("cannot import awa: %s: %s" % (type(e).__name__, e))
        os._exit(3)
    version = awa_version(awa)
    libc = ctypes.CDLL(None, use_errno=True)
    server_pid = os.getpid()

    listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    listener.bind(path)
    listener.listen(128)
    wake_r, wake_w = os.pipe()
    os.set_blocking(wake_r, False)
    os.set_blocking(wake_w, False)
    signal.set_wakeup_fd(wake_w)
    signal.signal(signal.SIGCHLD, lambda *_: None)
    sel = selectors.DefaultSelector()
    sel.register(listener, selectors.EVENT_READ, "accept")
    sel.register(wake_r, selectors.EVENT_READ, "reap")
    sel.register(0, selectors.EVENT_READ, "stdin")
    conns = {}     # socket -> the pid of its child (None before the request)
    children = {}  # pid -> its socket (None once the requester has gone)

    def reply(conn, msg: dict) -> None:
        try:
            conn.sendall((json.dumps(msg) + "\n").encode())
        except OSError:
            pass

    def drop(conn) -> None:
        sel.unregister(conn)
        conns.pop(conn, None)
        conn.close()

    def kill(pid: int) -> None:
        # Only a child not yet reaped: its pid (and process group) cannot have been reused.
        try:
            os.killpg(pid, signal.SIGKILL)
        except ProcessLookupError:
            pass

    os.write(1, (json.dumps({"event": "serving", "probe": PROBE, "awa_version": version,
                             "pid": server_pid}) + "\n").encode())

    def handle(key):
        """One ready file: returns the argv to run, in a forked child only."""
        what = key.data
        if what == "accept":
            conn, _ = listener.accept()
            conns[conn] = None
            sel.register(conn, selectors.EVENT_READ, "conn")
        elif what == "reap":
            try:
                while os.read(wake_r, 512):
                    pass
            except BlockingIOError:
                pass
            while True:
                try:
                    pid, status = os.waitpid(-1, os.WNOHANG)
                except ChildProcessError:
                    break
                if pid == 0:
                    break
                conn = children.pop(pid, None)
                if conn is not None:
                    reply(conn, {"exit": os.waitstatus_to_exitcode(status)})
                    drop(conn)
        elif what == "stdin":
            if os.read(0, 512):
                return None
            # The runner closed our stdin (or died): no child outlives the server.
            for pid in children:
                kill(pid)
            os._exit(0)
        else:
            conn = key.fileobj
            pid = conns.get(conn)
            if pid is not None:
                try:
                    data = conn.recv(512)
                except OSError:
                    data = b""
                if not data:
                    # The requester has gone without waiting: its probe goes too.
                    children[pid] = None
                    drop(conn)
                    kill(pid)
                return None
            fds = array.array("i")
            try:
                msg, anc, _, _ = conn.recvmsg(65536, socket.CMSG_SPACE(3 * fds.itemsize))
                for level, kind, data in anc:
                    if level == socket.SOL_SOCKET and kind == socket.SCM_RIGHTS:
                        fds.frombytes(data[:len(data) - len(data) % fds.itemsize])
                req = json.loads(msg)
                if len(fds) != 3 or not isinstance(req.get("argv"), list):
                    raise ValueError("want argv and three file descriptors, got %r and %d" % (msg[:200], len(fds)))
                pid = os.fork()
            except Exception as e:
                for fd in fds:
                    os.close(fd)
                reply(conn, {"error": "%s: %s" % (type(e).__name__, e)})
                drop(conn)
                return None
            if pid == 0:
                # The child: a probe process of its own from here on.
                signal.set_wakeup_fd(-1)
                signal.signal(signal.SIGCHLD, signal.SIG_DFL)
                os.setsid()
                libc.prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG: gone with the server
                if os.getppid() != server_pid:
                    os._exit(1)
                sel.close()
                listener.close()
                for c in conns:
                    c.close()
                os.close(wake_r)
                os.close(wake_w)
                for i, fd in enumerate(fds):
                    os.dup2(fd, i)
                    os.close(fd)
                os.environ.update(req.get("env") or {})
                sys.argv = [str(a) for a in req["argv"]]
                return sys.argv
            for fd in fds:
                os.close(fd)
            conns[conn] = pid
            children[pid] = conn
            # With the pid, a pidfd of the child: the runner signals it directly (at once, as
            # it kills a probe it started itself), and a pidfd never names another process.
            pidfd = os.pidfd_open(pid)
            try:
                conn.sendmsg([(json.dumps({"pid": pid}) + "\n").encode()],
                             [(socket.SOL_SOCKET, socket.SCM_RIGHTS, array.array("i", [pidfd]))])
            except OSError:
                pass
            finally:
                os.close(pidfd)
        return None

    while True:
        for key, _ in sel.select():
            try:
                argv = handle(key)
            except Exception as e:  # one bad request or connection must not end every probe
                if os.getpid() != server_pid:
                    os._exit(1)  # a child that could not set itself up
                log("fork server: %s: %s" % (type(e).__name__, e))
                continue
            if argv is not None:
                return argv


def main(argv) -> None:
    _setup_streams()
    # Python logging, for this probe's own use. awa-pg (0.5.7 to 0.6.9) bridges none of its Rust
    # core's logs into it: a warning such as a maintenance branch backing off under load, which
    # the Rust probe prints, never reaches a Python probe's stderr (findings #41).
    logging.basicConfig(level=logging.WARNING, stream=sys.stderr,
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    if len(argv) != 2:
        fatal("usage: awaprobe.py SPEC.json")
    try:
        import awa
    except Exception as e:
        fatal("cannot import awa: %s: %s" % (type(e).__name__, e))
    version = awa_version(awa)
    emit({"event": "start", "probe": PROBE, "awa_version": version, "pid": os.getpid()})
    try:
        with open(argv[1], "r", encoding="utf-8") as f:
            spec = json.load(f)
        validate(spec)
    except BadSpec as e:
        fatal("bad spec: %s" % e)
    except (OSError, ValueError) as e:
        fatal("cannot read spec %s: %s" % (argv[1], e))

    try:
        asyncio.run(Probe(awa, spec, version).run())
    except BadSpec as e:
        fatal("bad spec: %s" % e)
    except ProbeBug as e:
        fatal("probe error: %s" % e)
    except BaseException as e:  # anything else is a broken probe too
        fatal("probe error: %s: %s\n%s" % (type(e).__name__, e, traceback.format_exc()))
    emit({"event": "done"})
    if spec.get("exit") == "normal":
        # Leave the way an application does: the interpreter's own shutdown (finalizing the
        # SDK's native threads), so a crash there shows as this process's exit status.
        _events.flush()
        sys.stderr.flush()
        return
    finish(0)


if __name__ == "__main__":
    if len(sys.argv) == 3 and sys.argv[1] == "--serve":
        main(serve(sys.argv[2]))
    else:
        main(sys.argv)
