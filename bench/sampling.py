"""Sampling a server under load with py-spy, and the top of what it saw.

`bench/webhook.py --profile DIR` records chatshop during phase 2 into DIR/chatshop-phase2.txt (py-spy's
collapsed stacks: one line per distinct stack, `frame;frame;... count`) and prints the functions that
hold the most samples. A sample is taken of every thread that is running at that moment (idle threads
are left out), without pausing the server (`--nonblocking`): the shares then match each thread's CPU
time as /proc counts it, roughly (a thread waiting for the CPU on a busy machine is sampled too). py-spy's
`--gil` mode was tried first and is not used: on this Python it credited the bot's worker threads with a
sixth of the CPU /proc showed them using. So the exact split between threads comes from /proc: each
thread's CPU time over the phase is read before and after (DIR/chatshop-phase2.threads.json), and the
samples say where within each thread it went. The file also feeds flame-graph
tools (`flamegraph.pl`, speedscope.app) and `python bench/sampling.py FILE` prints its top again.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import signal
import subprocess
import sys
from collections import Counter
from pathlib import Path
from types import TracebackType

SAMPLES_PER_S = 200


class ProfilerError(RuntimeError):
    """py-spy is missing or could not attach; the message says why."""


class PySpy:
    """`py-spy record` attached to a running process until the context ends."""

    def __init__(self, pid: int, output: Path) -> None:
        self.pid, self.output = pid, output
        self._process: subprocess.Popen[bytes] | None = None
        self._cpu_before: dict[str, float] = {}
        self.thread_cpu_s: dict[str, float] = {}  # OS thread id -> CPU seconds over the recording

    def __enter__(self) -> PySpy:
        executable = shutil.which("py-spy", path=str(Path(sys.executable).parent)) or shutil.which("py-spy")
        if executable is None:
            raise ProfilerError("py-spy is not installed (it is in the dev extras: make install)")
        self.output.parent.mkdir(parents=True, exist_ok=True)
        self._process = subprocess.Popen(
            [executable, "record", "--pid", str(self.pid), "--nonblocking", "--nolineno", "--threads",
             "--rate", str(SAMPLES_PER_S), "--format", "raw", "--output", str(self.output)],
            stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
        )
        self._cpu_before = thread_cpu_seconds(self.pid)
        return self

    def __exit__(self, *_: type[BaseException] | BaseException | TracebackType | None) -> None:
        process, self._process = self._process, None
        if process is None:
            return
        after = thread_cpu_seconds(self.pid)
        self.thread_cpu_s = {tid: cpu - self._cpu_before.get(tid, 0.0) for tid, cpu in after.items()}
        process.send_signal(signal.SIGINT)  # py-spy writes its file on SIGINT
        try:
            complaint = process.communicate(timeout=30)[1]
        except subprocess.TimeoutExpired:
            process.kill()
            complaint = process.communicate()[1]
        if not self.output.exists():
            raise ProfilerError(f"py-spy wrote no profile: {complaint.decode(errors='replace')[-500:]}")
        names = thread_names(read_stacks(self.output))
        by_thread = {names.get(tid, f"thread {tid}"): 0.0 for tid in self.thread_cpu_s}
        for tid, cpu in self.thread_cpu_s.items():
            by_thread[names.get(tid, f"thread {tid}")] += cpu
        self.output.with_suffix(".threads.json").write_text(json.dumps(by_thread, indent=1))


def thread_cpu_seconds(pid: int) -> dict[str, float]:
    """User + system CPU of each thread of `pid`, by OS thread id (Linux /proc; empty elsewhere)."""
    cpu: dict[str, float] = {}
    try:
        tids = os.listdir(f"/proc/{pid}/task")
    except OSError:
        return cpu
    for tid in tids:
        try:
            fields = Path(f"/proc/{pid}/task/{tid}/stat").read_text().rpartition(")")[2].split()
        except OSError:
            continue  # the thread ended
        cpu[tid] = (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    return cpu


_THREAD_FRAME = re.compile(r"^thread \((\d+)\): (.*)$")


def thread_names(stacks: Counter[tuple[str, ...]]) -> dict[str, str]:
    """OS thread id -> the thread's name, grouped: a pool's workers (`chatshop_3`) share their pool's name."""
    names = {}
    for frames in stacks:
        if match := _THREAD_FRAME.match(frames[0]):
            names[match.group(1)] = match.group(2).rstrip("0123456789_") or match.group(2)
    return names


def thread_table(cpu_by_thread: dict[str, float], requests: int) -> str:
    total = sum(cpu_by_thread.values()) or 1.0
    lines = ["  CPU by thread (/proc)     ms/request   share"]
    for name, cpu in sorted(cpu_by_thread.items(), key=lambda item: -item[1]):
        if cpu > 0:
            lines.append(f"  {name[:24]:24s}  {1000 * cpu / max(requests, 1):10.3f}  {100 * cpu / total:5.1f} %")
    return "\n".join(lines)


def read_stacks(path: Path) -> Counter[tuple[str, ...]]:
    stacks: Counter[tuple[str, ...]] = Counter()
    for line in path.read_text().splitlines():
        frames, _, count = line.rpartition(" ")
        if frames and count.isdigit():
            stacks[tuple(frames.split(";"))] += int(count)
    return stacks


def top(stacks: Counter[tuple[str, ...]], limit: int = 25) -> str:
    """The functions with the most samples: inclusive (on the stack) and self (innermost), in % of all."""
    total = stacks.total() or 1
    inclusive: Counter[str] = Counter()
    own: Counter[str] = Counter()
    for frames, count in stacks.items():
        if _THREAD_FRAME.match(frames[0]):
            frames = frames[1:] or frames
        for frame in set(frames):
            inclusive[frame] += count
        own[frames[-1]] += count
    lines = [f"{total} samples ({SAMPLES_PER_S}/s, running threads)", "", "  incl %   self %  function"]
    for frame, count in inclusive.most_common(limit):
        lines.append(f"  {100 * count / total:6.1f}   {100 * own[frame] / total:6.1f}  {frame}")
    lines += ["", "  self %  function (innermost frame)"]
    for frame, count in own.most_common(limit):
        lines.append(f"  {100 * count / total:6.1f}  {frame}")
    return "\n".join(lines)


if __name__ == "__main__":
    for name in sys.argv[1:]:
        print(top(read_stacks(Path(name)), limit=40))
