"""Run model-written Python (program-of-thought, tool-integrated reasoning) in a confined process.

    result = run_program("print(6 * 7)", timeout=10)   # ProgramResult(stdout="42\n", error=None, ...)
    program_answer(result)                              # "42": the last line it printed, if it ran cleanly

DeepSeekMath's program-of-thought and tool-integrated solutions (§3.1, §5.1: up to 2 rounds, 10 s
each) are graded by running them. The code is untrusted, so it runs in layers of confinement;
ProgramResult.confinement names the layers that were in force for a run.
  always ("rlimits")  a separate `python -I` process in its own session, an empty temporary
       working directory, an empty environment, empty stdin; a wall-clock timeout; output read
       with a cap (past it the program is killed); rlimits on address space (a memory bomb gets
       MemoryError), CPU seconds, file size (64 MB), process count; no new privileges (a setuid
       binary such as sudo grants nothing). At the end the whole process group is killed.
  as root ("throwaway-uid")  the program runs as a user id drawn at random for this run. Root is
       exempt from RLIMIT_NPROC, that user is not, so a fork bomb stops at `max_processes`; after
       the run every process of that user is killed, also those that left the process group with
       setsid(); file permissions apply (root's files are not writable).
  as root where namespaces work, i.e. CAP_SYS_ADMIN ("read-only-fs", "no-network")  a private
       mount namespace in which the whole file tree is read-only (world-writable /tmp included)
       except the working directory, and an empty network namespace.
Not contained: reading files (any world-readable file; and with "reads-any-file", any file at all:
when the interpreter lives where other users cannot read it, e.g. pyenv under /root, the
throwaway user keeps CAP_DAC_READ_SEARCH to start it); memory in total (each process may take
memory_mb). Not as root: processes that call setsid() outlive the run (until their CPU limit),
and the program can write wherever the user can. For more, run inside a container.

The limits are applied by a small trusted script in the child before it execs the program,
not by subprocess's preexec_fn, which is unsafe when the parent has threads (torch does).
This module imports nothing from the project (reward.py re-exports its public names).
"""
from __future__ import annotations

import json
import math
import os
import secrets
import selectors
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass

_CONFINE = r"""
import ctypes, json, os, resource, sys
config = json.loads(sys.argv[1])
uid, workdir, report = config["uid"], config["workdir"], config["report_fd"]
os.set_inheritable(report, False)  # closed by exec: anything written after the layers means exec failed
libc = ctypes.CDLL(None, use_errno=True)
layers = []

def check(result):
    if result != 0:
        raise OSError(ctypes.get_errno(), "confinement: " + os.strerror(ctypes.get_errno()))

def limit(kind, n):
    resource.setrlimit(kind, (n, n))

def tasks_of(user):  # RLIMIT_NPROC counts the threads of all the user's processes
    n = 0
    for pid in filter(str.isdigit, os.listdir("/proc")):
        try:
            n += os.stat("/proc/" + pid).st_uid == user and len(os.listdir("/proc/%s/task" % pid))
        except OSError:
            pass
    return n

def private_read_only_view():
    check(libc.unshare(0x00020000 | 0x40000000))  # CLONE_NEWNS | CLONE_NEWNET
    layers.append("no-network")
    check(libc.mount(None, b"/", None, 16384 | 1 << 18, None))  # MS_REC | MS_PRIVATE: nothing leaks out
    w = workdir.encode()
    check(libc.mount(w, w, None, 4096, None))  # MS_BIND: the working directory becomes its own mount
    attr = (ctypes.c_uint64 * 4)(1 | 2, 0, 0, 0)  # struct mount_attr, set MOUNT_ATTR_RDONLY | NOSUID
    check(libc.syscall(442, -100, b"/", 0x8000, attr, 32))  # mount_setattr(AT_FDCWD, "/", AT_RECURSIVE)
    check(libc.mount(None, w, None, 32 | 4096 | 2 | 4, None))  # MS_REMOUNT|BIND|NOSUID|NODEV: writable again
    os.chdir(workdir)  # onto the writable mount
    layers.append("read-only-fs")

limit(resource.RLIMIT_CORE, 0)
limit(resource.RLIMIT_CPU, config["cpu_seconds"])
limit(resource.RLIMIT_FSIZE, config["file_bytes"])
limit(resource.RLIMIT_AS, config["memory_bytes"])
limit(resource.RLIMIT_NPROC, config["max_processes"] + (0 if uid is not None else tasks_of(os.getuid())))
check(libc.prctl(38, 1, 0, 0, 0))  # PR_SET_NO_NEW_PRIVS: running a setuid binary (sudo, su) grants nothing
layers.append("rlimits")
if uid is not None:
    try:
        private_read_only_view()
    except OSError:
        pass  # no CAP_SYS_ADMIN or an old kernel: the other layers still hold
    check(libc.prctl(8, 1, 0, 0, 0))  # PR_SET_KEEPCAPS, so that capset below has something to keep
    os.setgroups([])
    os.setgid(uid)
    os.setuid(uid)
    layers.append("throwaway-uid")
    # No capability survives, except CAP_DAC_READ_SEARCH (read any file) when the interpreter sits
    # where other users cannot read it (pyenv under /root): it must stay ambient to survive exec.
    bit = 1 << 2 if config["read_all"] else 0
    check(libc.capset((ctypes.c_uint32 * 2)(0x20080522, 0), (ctypes.c_uint32 * 6)(bit, bit, bit, 0, 0, 0)))
    if bit:
        check(libc.prctl(47, 2, 2, 0, 0))  # PR_CAP_AMBIENT, PR_CAP_AMBIENT_RAISE, CAP_DAC_READ_SEARCH
        layers.append("reads-any-file")
os.write(report, (json.dumps(layers) + "\n").encode())
try:
    os.execv(sys.executable, [sys.executable, "-I", "-"])  # the program comes on stdin
except OSError:
    os.write(report, b"exec failed")
    raise
"""

_SANDBOX_UIDS = range(1_500_000_000, 1_600_000_000)  # outside any real user's range
_FILE_BYTES = 64 << 20


@dataclass
class ProgramResult:
    stdout: str
    stderr: str
    returncode: int  # negative: killed by that signal
    timed_out: bool
    truncated: bool  # output passed max_output: the program was stopped there
    error: str | None  # None, "timeout", "output_limit", "memory", "signal", "exception", "sandbox"
    confinement: tuple[str, ...] = ()  # the layers in force (see the module docstring); empty if it never started


def run_program(code: str, timeout: float = 10.0, memory_mb: int = 512, max_output: int = 1 << 20,
                max_processes: int = 16) -> ProgramResult:
    """Run Python source in a confined child process and capture what it prints.

    stdout and stderr are each kept up to `max_output` bytes; stdin is empty. The program, its
    children and everything they started are killed when it ends, times out, or prints too much.
    """
    uid = _SANDBOX_UIDS[secrets.randbelow(len(_SANDBOX_UIDS))] if os.geteuid() == 0 else None
    workdir = tempfile.mkdtemp(prefix="program-")
    if uid is not None:
        os.chown(workdir, uid, uid)
    report_read, report_write = os.pipe()
    config = {"uid": uid, "workdir": workdir, "report_fd": report_write, "read_all": not _interpreter_public(),
              "cpu_seconds": math.ceil(timeout) + 1, "file_bytes": _FILE_BYTES, "memory_bytes": memory_mb << 20,
              "max_processes": max_processes}
    env = {"PATH": "/usr/bin:/bin", "LANG": "C.UTF-8", "HOME": workdir, "TMPDIR": workdir,
           "OMP_NUM_THREADS": "1", "OPENBLAS_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"}  # threads count as processes
    deadline = time.monotonic() + timeout
    try:
        process = subprocess.Popen([sys.executable, "-I", "-S", "-c", _CONFINE, json.dumps(config)],
                                   stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                   cwd=workdir, env=env, start_new_session=True, pass_fds=(report_write,))
    finally:
        os.close(report_write)
    try:
        try:
            process.stdin.write(code.encode("utf-8", "surrogatepass"))
            process.stdin.close()
        except BrokenPipeError:
            pass
        stdout, stderr, timed_out, truncated = _collect(process, uid, deadline, max_output)
    finally:
        _kill_everything(process.pid, uid)
        process.wait()
        process.stdout.close()
        process.stderr.close()
        report = os.read(report_read, 4096)
        os.close(report_read)
        shutil.rmtree(workdir, ignore_errors=True)
    layers, _, exec_failure = report.decode().partition("\n")
    confinement = tuple(json.loads(layers)) if layers and not exec_failure else ()
    stderr_text = stderr.decode("utf-8", "replace")
    if timed_out:
        error = "timeout"
    elif truncated:
        error = "output_limit"
    elif not confinement:
        error = "sandbox"  # confinement or exec failed: the program never started
    elif process.returncode == 0:
        error = None
    elif process.returncode < 0:
        error = "signal"  # e.g. SIGXCPU (CPU limit) or SIGXFSZ (file size limit)
    elif stderr_text.rstrip().rsplit("\n", 1)[-1].startswith("MemoryError"):
        error = "memory"
    else:
        error = "exception"
    return ProgramResult(stdout.decode("utf-8", "replace"), stderr_text, process.returncode, timed_out,
                         truncated, error, confinement)


def _interpreter_public() -> bool:
    """Whether any user can start this Python: every directory above it searchable by others."""
    for path in {os.path.realpath(sys.executable), sys.prefix, sys.base_prefix}:
        parents = os.path.realpath(path).split(os.sep)
        if any(not os.stat(os.sep.join(parents[:i]) or os.sep).st_mode & 0o001 for i in range(1, len(parents))):
            return False
    return True


def _collect(process: subprocess.Popen, uid: int | None, deadline: float, max_output: int):
    """Read stdout and stderr until the program has exited and both pipes are closed; stop at the
    deadline or the output cap.

    When the program exits, whatever it left running is killed, so that background children
    holding the pipes open cannot stretch the run to the timeout.
    """
    buffers = {process.stdout: bytearray(), process.stderr: bytearray()}
    timed_out = truncated = exited = False
    with selectors.DefaultSelector() as selector:
        for pipe in buffers:
            selector.register(pipe, selectors.EVENT_READ)
        while not truncated:
            # WNOWAIT: the exited program stays a zombie, so its pid (the group id) cannot be reused
            # by another process before the group is killed; run_program reaps it at the end.
            if not exited and os.waitid(os.P_PID, process.pid, os.WEXITED | os.WNOHANG | os.WNOWAIT):
                exited = True
                _kill_everything(process.pid, uid)
            if exited and not selector.get_map():
                break
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                timed_out = True
                break
            for key, _ in selector.select(min(remaining, 0.05)):  # (with both pipes closed: a sleep)
                chunk = os.read(key.fd, 1 << 16)
                if not chunk:
                    selector.unregister(key.fileobj)
                buffer = buffers[key.fileobj]
                room = max_output - len(buffer)
                buffer += chunk[:room]
                truncated |= len(chunk) > room
    return bytes(buffers[process.stdout]), bytes(buffers[process.stderr]), timed_out, truncated


def _kill_everything(group: int, uid: int | None) -> None:
    """SIGKILL the program's process group and, as root, every process of its throwaway user."""
    try:
        os.killpg(group, signal.SIGKILL)
    except (ProcessLookupError, PermissionError):
        pass
    if uid is None:
        return
    for _ in range(1000):  # a fork bomb may fork between scans; the process limit bounds the rounds
        alive = _live_processes_of(uid)
        if not alive:
            return
        for pid in alive:
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
        time.sleep(0.001)
    raise RuntimeError(f"could not kill the processes of sandbox user {uid}")


def _live_processes_of(uid: int) -> list[int]:
    """Processes of `uid` that are not zombies (a zombie is already dead, waiting for its parent)."""
    pids = []
    for entry in os.scandir("/proc"):
        if not entry.name.isdigit():
            continue
        try:
            if entry.stat().st_uid != uid:
                continue
            with open(f"/proc/{entry.name}/stat") as f:
                state = f.read().rsplit(")", 1)[1].split()[0]
        except (OSError, IndexError):
            continue  # gone meanwhile
        if state != "Z":
            pids.append(int(entry.name))
    return pids


def program_answer(result: ProgramResult) -> str | None:
    """The answer of a program-of-thought: its last non-empty line of output, if it ran cleanly."""
    if result.error is not None:
        return None
    lines = [line.strip() for line in result.stdout.splitlines() if line.strip()]
    return lines[-1] if lines else None
