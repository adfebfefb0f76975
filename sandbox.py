"""Run model-written Python (program-of-thought, tool-integrated reasoning) in a confined process.

    result = run_program("print(6 * 7)", timeout=10)   # ProgramResult(stdout="42\n", error=None, ...)
    program_answer(result)                              # "42": the last line it printed, if it ran cleanly

DeepSeekMath's program-of-thought and tool-integrated solutions (§3.1, §5.1: up to 2 rounds, 10 s
each) are graded by running them. The code is untrusted, so it runs in layers of confinement;
ProgramResult.confinement names the layers that were in force for a run.
  always ("rlimits")  a separate `python -I` process in its own session, an empty temporary
       working directory, an empty environment, empty stdin; a wall-clock timeout; output read
       with a cap (past it the program is killed); rlimits on address space per process (a memory
       bomb gets MemoryError), CPU seconds, file size (disk_mb), process count; no new privileges
       (a setuid binary such as sudo grants nothing). At the end the whole process group is killed.
  where this process may create a child memory cgroup, v2 or v1 ("memory-total")  all the
       program's processes together, and the files they write in the working directory, hold at
       most memory_mb: past it the kernel kills one of them (error "memory" if it was the program).
  as root ("throwaway-uid")  the program runs as a user id drawn at random for this run. Root is
       exempt from RLIMIT_NPROC, that user is not, so a fork bomb stops at `max_processes`; after
       the run every process of that user is killed, also those that left the process group with
       setsid(); file permissions apply (root's files are not writable).
  as root where namespaces work, i.e. CAP_SYS_ADMIN ("no-network", "read-only-fs", "disk-limit")
       an empty network namespace and a private mount namespace in which the whole file tree is
       read-only (world-writable /tmp included); the working directory is a tmpfs of its own of
       disk_mb. An interpreter where other users cannot reach it (pyenv under /root) is shown by
       covering that directory with an empty tmpfs and binding the interpreter's directories back,
       read-only: the rest of the directory is hidden.
  ("no-capabilities")  the program holds no capability and, as root, none is left in the bounding
       set: in particular not CAP_DAC_READ_SEARCH, whose open_by_handle_at() would open any inode
       of the disk through the writable working directory and write past the read-only mounts.
Not contained: reading world-readable files; memory in total without "memory-total" (each process
may take memory_mb, so up to memory_mb × max_processes); disk without "disk-limit" (each file up to
disk_mb). Where the interpreter is hidden and no mount namespace can show it, the throwaway user
keeps CAP_DAC_READ_SEARCH to start it ("reads-any-file" instead of "no-capabilities"): it can read
any file. Not as root: processes that call setsid() outlive the run (until their CPU limit), and
the program can write wherever the user can. For more, run inside a container.

The limits are applied by a small trusted script in the child before it execs the program,
not by subprocess's preexec_fn, which is unsafe when the parent has threads (torch does).
This module imports nothing from the project (reward.py re-exports its public names).
"""
from __future__ import annotations

import errno
import functools
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
CAP_DAC_READ_SEARCH, MS_NODEV_NOSUID, AT_FDCWD, AT_RECURSIVE = 2, 2 | 4, -100, 0x8000

def check(result):
    if result == -1:
        raise OSError(ctypes.get_errno(), "confinement: " + os.strerror(ctypes.get_errno()))
    return result

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

def capabilities():  # e.g. {"CapEff": 0x1ffffffffff, ...} from /proc/self/status
    lines = open("/proc/self/status").read().splitlines()
    fields = (line.split(":\t") for line in lines if line.startswith("Cap"))
    return {key: int(value, 16) for key, value in fields}

def mount_tmpfs(target, options):
    check(libc.mount(b"tmpfs", target.encode(), b"tmpfs", MS_NODEV_NOSUID, options.encode()))

def show_interpreter():
    # Cover each private directory above the interpreter (e.g. /root) with an empty tmpfs, then bind the
    # interpreter's own directories back at their paths: detached copies taken before the cover (open_tree).
    clones = [(path, check(libc.syscall(428, AT_FDCWD, path.encode(), 1 | AT_RECURSIVE | os.O_CLOEXEC)))
              for path in config["interpreter_dirs"]]  # open_tree(OPEN_TREE_CLONE)
    for private in config["private_dirs"]:
        mount_tmpfs(private, "size=64k,mode=0755")
    for path, tree in clones:
        os.makedirs(path, exist_ok=True)
        check(libc.syscall(429, tree, b"", AT_FDCWD, path.encode(), 4))  # move_mount(MOVE_MOUNT_F_EMPTY_PATH)

def private_read_only_view():
    check(libc.unshare(0x00020000 | 0x40000000))  # CLONE_NEWNS | CLONE_NEWNET
    layers.append("no-network")
    check(libc.mount(None, b"/", None, 16384 | 1 << 18, None))  # MS_REC | MS_PRIVATE: nothing leaks out
    show_interpreter()
    attr = (ctypes.c_uint64 * 4)(1 | 2, 0, 0, 0)  # struct mount_attr, set MOUNT_ATTR_RDONLY | NOSUID
    check(libc.syscall(442, AT_FDCWD, b"/", AT_RECURSIVE, attr, 32))  # mount_setattr: all of it
    layers.append("read-only-fs")
    # The one writable place: a tmpfs of disk_mb, which caps what the program can write, and a file system
    # of its own, so a file handle taken through it (open_by_handle_at) cannot reach an inode of the disk.
    mount_tmpfs(workdir, "size=%dk,mode=0700,uid=%d,gid=%d" % (config["disk_bytes"] >> 10, uid, uid))
    os.chdir(workdir)  # onto the new mount
    layers.append("disk-limit")

if config["cgroup"]:
    try:  # first, while still root: every process the program starts inherits the cgroup
        with open(os.path.join(config["cgroup"], "cgroup.procs"), "w") as procs:
            procs.write(str(os.getpid()))
        layers.append("memory-total")
    except OSError:
        pass  # a cgroup this process may create but not enter: the per-process limit still holds
limit(resource.RLIMIT_CORE, 0)
limit(resource.RLIMIT_CPU, config["cpu_seconds"])
limit(resource.RLIMIT_FSIZE, config["disk_bytes"])
limit(resource.RLIMIT_AS, config["memory_bytes"])
limit(resource.RLIMIT_NPROC, config["max_processes"] + (0 if uid is not None else tasks_of(os.getuid())))
check(libc.prctl(38, 1, 0, 0, 0))  # PR_SET_NO_NEW_PRIVS: running a setuid binary (sudo, su) grants nothing
layers.append("rlimits")
if uid is not None:
    try:
        private_read_only_view()
    except OSError:
        pass  # no CAP_SYS_ADMIN or an old kernel: the other layers still hold
# CAP_DAC_READ_SEARCH stays only when the interpreter is hidden from the program's user and no mount
# namespace showed it (and this process holds it): without it the interpreter could not start.
hidden = config["private_dirs"] and "read-only-fs" not in layers
keep = 1 << CAP_DAC_READ_SEARCH if hidden and capabilities()["CapEff"] >> CAP_DAC_READ_SEARCH & 1 else 0
if uid is not None:
    last_capability = int(open("/proc/sys/kernel/cap_last_cap").read())
    for capability in range(last_capability + 1):  # the bounding set: nothing can bring a capability back
        if not keep >> capability & 1:  # fails without CAP_SETPCAP: then no "no-capabilities" below
            libc.prctl(24, capability, 0, 0, 0)  # PR_CAPBSET_DROP
    if keep:
        check(libc.prctl(8, 1, 0, 0, 0))  # PR_SET_KEEPCAPS, so that capset below has something to keep
    os.setgroups([])
    os.setgid(uid)
    os.setuid(uid)
    layers.append("throwaway-uid")
# Effective, permitted and inheritable sets: `keep` or nothing; ambient (what survives exec): likewise.
check(libc.capset((ctypes.c_uint32 * 2)(0x20080522, 0), (ctypes.c_uint32 * 6)(keep, keep, keep, 0, 0, 0)))
check(libc.prctl(47, 4, 0, 0, 0))  # PR_CAP_AMBIENT, PR_CAP_AMBIENT_CLEAR_ALL
if keep:
    check(libc.prctl(47, 2, CAP_DAC_READ_SEARCH, 0, 0))  # PR_CAP_AMBIENT_RAISE
    layers.append("reads-any-file")
else:
    held = capabilities()
    bounding = held["CapBnd"] if uid is not None else 0  # only root could empty it; no new privileges anyway
    if not held["CapEff"] | held["CapPrm"] | held["CapInh"] | held["CapAmb"] | bounding:
        layers.append("no-capabilities")
os.write(report, (json.dumps(layers) + "\n").encode())
try:
    os.execv(sys.executable, [sys.executable, "-I", "-"])  # the program comes on stdin
except OSError:
    os.write(report, b"exec failed")
    raise
"""

_SANDBOX_UIDS = range(1_500_000_000, 1_600_000_000)  # outside any real user's range


@dataclass
class ProgramResult:
    stdout: str
    stderr: str
    returncode: int  # negative: killed by that signal
    timed_out: bool
    truncated: bool  # output passed max_output: the program was stopped there
    error: str | None  # None, "timeout", "output_limit", "memory", "signal", "exception", "sandbox"
    confinement: tuple[str, ...] = ()  # the layers in force (see the module docstring); empty: never started


def run_program(code: str, timeout: float = 10.0, memory_mb: int = 512, max_output: int = 1 << 20,
                max_processes: int = 16, disk_mb: int = 64) -> ProgramResult:
    """Run Python source in a confined child process and capture what it prints.

    stdout and stderr are each kept up to `max_output` bytes; stdin is empty. The program, its
    children and everything they started are killed when it ends, times out, or prints too much.
    memory_mb bounds each process's address space and, with "memory-total", all its processes and
    the files in its working directory together; disk_mb bounds each file and, with "disk-limit",
    the working directory in total.
    """
    uid = _SANDBOX_UIDS[secrets.randbelow(len(_SANDBOX_UIDS))] if os.geteuid() == 0 else None
    workdir = tempfile.mkdtemp(prefix="program-")
    if uid is not None:
        os.chown(workdir, uid, uid)
    cgroup = _make_memory_cgroup(memory_mb << 20)
    private_dirs, interpreter_dirs = _hidden_interpreter()
    report_read, report_write = os.pipe()
    config = {"uid": uid, "workdir": workdir, "report_fd": report_write, "cgroup": cgroup and cgroup[0],
              "private_dirs": private_dirs, "interpreter_dirs": interpreter_dirs,
              "cpu_seconds": math.ceil(timeout) + 1, "disk_bytes": disk_mb << 20,
              "memory_bytes": memory_mb << 20, "max_processes": max_processes}
    env = {"PATH": "/usr/bin:/bin", "LANG": "C.UTF-8", "HOME": workdir, "TMPDIR": workdir,
           # threads count as processes
           "OMP_NUM_THREADS": "1", "OPENBLAS_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"}
    deadline = time.monotonic() + timeout
    try:
        process = subprocess.Popen([sys.executable, "-I", "-S", "-c", _CONFINE, json.dumps(config)],
                                   stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                   cwd=workdir, env=env, start_new_session=True, pass_fds=(report_write,))
    except BaseException:  # e.g. out of file descriptors: a cgroup would outlive this process
        os.close(report_read)
        shutil.rmtree(workdir, ignore_errors=True)
        if cgroup:
            _remove_memory_cgroup(*cgroup)
        raise
    finally:
        os.close(report_write)
    oom_kills = 0
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
        if cgroup:
            oom_kills = _remove_memory_cgroup(*cgroup)
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
    elif oom_kills:
        error = "memory"  # the kernel killed the program, or one of its processes, at the cgroup's limit
    elif process.returncode < 0:
        error = "signal"  # e.g. SIGXCPU (CPU limit)
    elif stderr_text.rstrip().rsplit("\n", 1)[-1].startswith("MemoryError"):
        error = "memory"
    else:
        error = "exception"
    return ProgramResult(stdout.decode("utf-8", "replace"), stderr_text, process.returncode, timed_out,
                         truncated, error, confinement)


@functools.cache
def _hidden_interpreter() -> tuple[list[str], list[str]]:
    """The directories that hide this Python from other users (e.g. /root, not searchable by others), and
    the interpreter's directories below them (e.g. /root/.pyenv/versions/3.11.7): both empty when any
    user can start it."""
    needed = {os.path.realpath(path) for path in (sys.prefix, sys.base_prefix)}
    needed.add(os.path.dirname(os.path.realpath(sys.executable)))
    needed = {path for path in needed if not any(path.startswith(other + os.sep) for other in needed)}
    private_dirs, interpreter_dirs = set(), set()
    for path in needed:
        parts = path.split(os.sep)
        for i in range(2, len(parts) + 1):
            ancestor = os.sep.join(parts[:i])
            if not os.stat(ancestor).st_mode & 0o001:
                private_dirs.add(ancestor)
                interpreter_dirs.add(path)
                break
    # a private directory inside another is covered by the outer one's tmpfs
    private_dirs = {path for path in private_dirs
                    if not any(path.startswith(other + os.sep) for other in private_dirs)}
    return sorted(private_dirs), sorted(interpreter_dirs)


@functools.cache
def _cgroup_parents() -> list[tuple[int, str]]:
    """This process's own cgroups that have a memory controller, as (cgroup version, directory)."""
    mounts = {}  # version -> (mount point, the cgroup shown there)
    with open("/proc/self/mountinfo") as f:
        for line in f:
            fields, _, filesystem = line.partition(" - ")
            kind, _, options = filesystem.split()[:3]
            if kind == "cgroup2" or kind == "cgroup" and "memory" in options.split(","):
                mounts.setdefault(2 if kind == "cgroup2" else 1, (fields.split()[4], fields.split()[3]))
    parents = []
    with open("/proc/self/cgroup") as f:
        for line in f:
            _, controllers, path = line.rstrip("\n").split(":", 2)
            version = 2 if controllers == "" else 1 if "memory" in controllers.split(",") else None
            if version in mounts and (path + "/").startswith(mounts[version][1].rstrip("/") + "/"):
                point, shown = mounts[version]
                parents.append((version, point + path[len(shown.rstrip("/")):].rstrip("/")))
    usable = []
    for version, parent in sorted(parents, reverse=True):  # v2 first
        try:
            if version == 2:  # its children have a memory controller only if it hands it down
                with open(os.path.join(parent, "cgroup.subtree_control")) as f:
                    if "memory" not in f.read().split():
                        continue
            usable.append((version, parent))
        except OSError:
            pass  # not where mountinfo says (e.g. another cgroup namespace)
    return usable


def _make_memory_cgroup(limit_bytes: int) -> tuple[str, int] | None:
    """A new child cgroup holding all the program's processes to `limit_bytes` (memory + swap), or None
    where none can be made: no memory controller here, or no right to create cgroups (most containers)."""
    for version, parent in _cgroup_parents():
        path = os.path.join(parent, "program-" + secrets.token_hex(8))
        try:
            os.mkdir(path)
        except OSError:
            continue
        memory, swap, swap_bytes = (("memory.max", "memory.swap.max", 0) if version == 2 else
                                    ("memory.limit_in_bytes", "memory.memsw.limit_in_bytes", limit_bytes))
        try:
            with open(os.path.join(path, memory), "w") as f:
                f.write(str(limit_bytes))
            if os.path.exists(os.path.join(path, swap)):  # where swap is accounted: none past the limit
                with open(os.path.join(path, swap), "w") as f:
                    f.write(str(swap_bytes))
            return path, version
        except OSError:
            os.rmdir(path)  # e.g. not allowed to set limits there
    return None


def _remove_memory_cgroup(path: str, version: int) -> int:
    """Remove the (emptied) cgroup; return how many of its processes the kernel killed for memory."""
    with open(os.path.join(path, "memory.events" if version == 2 else "memory.oom_control")) as f:
        counts = dict(line.split() for line in f)
    for _ in range(1000):  # the killed processes leave the cgroup as they finish exiting
        try:
            os.rmdir(path)
            break
        except OSError as e:
            if e.errno != errno.EBUSY:
                raise
            time.sleep(0.001)
    else:
        raise RuntimeError(f"could not remove the program's memory cgroup {path}")
    return int(counts.get("oom_kill", 0))


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
