"""Program execution (sandbox.run_program): every attack is contained with a clear result, and the
test process is unharmed. What is and is not contained is listed in sandbox.py's docstring."""
import json
import os
import resource
import shutil
import socket
import subprocess
import sys
import textwrap
import threading
import time
import uuid
from pathlib import Path

import pytest

import sandbox
from sandbox import program_answer, run_program

ROOT = os.geteuid() == 0


def _live_processes_of(uids):
    """Processes of these users that are not zombies, read from /proc here."""
    found = []
    for pid in filter(str.isdigit, os.listdir("/proc")):
        try:
            status = dict(line.split(":", 1) for line in Path(f"/proc/{pid}/status").read_text().splitlines())
        except (OSError, ValueError):
            continue
        if int(status["Uid"].split()[0]) in uids and not status["State"].strip().startswith("Z"):
            found.append(pid)
    return found


@pytest.fixture(autouse=True)
def nothing_left_behind(monkeypatch):
    """This test process draws its throwaway users from a range of its own (other sessions may run
    programs meanwhile), and after each test none of them may have a live process."""
    start = 1_600_000_000 + os.getpid() % 1000 * 1_000_000  # above sandbox's own range
    own = range(start, start + 1_000_000)
    monkeypatch.setattr(sandbox, "_SANDBOX_UIDS", own)
    yield
    assert _live_processes_of(own) == []


def test_normal_program():
    code = textwrap.dedent("""
        import json, os, sys
        open("scratch.txt", "w").write("ok")  # the working directory is writable...
        print(json.dumps({"files": sorted(os.listdir(".")), "env": sorted(os.environ), "uid": os.getuid(),
                          "isolated": sys.flags.isolated, "read": open("scratch.txt").read()}))
        print(sum(range(10)))
        print()
    """)
    result = run_program(code)
    assert result.error is None and result.returncode == 0 and not result.timed_out and not result.truncated
    info = json.loads(result.stdout.splitlines()[0])
    assert info["files"] == ["scratch.txt"] and info["read"] == "ok"  # ...and was empty
    assert set(info["env"]) <= {"PATH", "LANG", "HOME", "TMPDIR", "OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS",
                                "MKL_NUM_THREADS", "LC_CTYPE"}
    assert info["isolated"] == 1
    assert program_answer(result) == "45"  # the last non-empty line
    assert "rlimits" in result.confinement
    if ROOT:
        assert info["uid"] in sandbox._SANDBOX_UIDS and "throwaway-uid" in result.confinement


def test_exception_and_empty_stdin():
    result = run_program("print('partial')\n1 / 0")
    assert result.error == "exception" and result.returncode == 1 and "ZeroDivisionError" in result.stderr
    assert program_answer(result) is None  # a crashed program has no answer
    assert run_program("input()").error == "exception"  # stdin is empty, not the test's terminal


def test_infinite_loop_times_out():
    start = time.monotonic()
    result = run_program("while True:\n    pass", timeout=1.0)
    elapsed = time.monotonic() - start
    print(f"\ninfinite loop stopped after {elapsed:.2f} s (timeout 1 s)")
    assert result.timed_out and result.error == "timeout" and result.returncode < 0
    assert elapsed < 4.0


def test_memory_bomb():
    limits_before = resource.getrlimit(resource.RLIMIT_AS)
    at_once = run_program("x = bytearray(8 * 1024 ** 3)\nprint('allocated')")
    assert at_once.error == "memory" and "allocated" not in at_once.stdout
    growing = run_program("chunks = []\nwhile True:\n    chunks.append(bytearray(10 ** 7))", memory_mb=256)
    assert growing.error == "memory" and not growing.timed_out
    assert resource.getrlimit(resource.RLIMIT_AS) == limits_before  # the limits were set in the child only


def test_process_limit():
    """Forking stops at max_processes (threads count too); the sleeping children are killed afterwards."""
    code = textwrap.dedent("""
        import os, time
        n = 0
        try:
            while True:
                if os.fork() == 0:
                    time.sleep(60)
                    os._exit(0)
                n += 1
        except OSError as e:
            print(n, e.errno)
    """)
    result = run_program(code, max_processes=8, timeout=10)
    forked, errno = map(int, result.stdout.split())
    assert result.error is None and errno == 11  # EAGAIN
    print(f"\nforks before the limit: {forked} (max_processes 8)")
    assert forked <= 8
    # and nothing_left_behind checks that the sleeping children are gone


def test_fork_bomb_is_contained():
    start = time.monotonic()
    result = run_program("import os\nwhile True:\n    try:\n        os.fork()\n"
                         "    except OSError:\n        pass",
                         timeout=1.5, max_processes=8)
    elapsed = time.monotonic() - start
    print(f"\nfork bomb stopped after {elapsed:.2f} s")
    assert result.error == "timeout" and elapsed < 5.0
    assert subprocess.run(["true"]).returncode == 0  # the test process can still start processes


@pytest.mark.skipif(not ROOT, reason="escaped processes are killed by user id, which needs root")
def test_escape_from_the_process_group_is_killed():
    code = "import os, time\nif os.fork() == 0:\n    os.setsid()\n    time.sleep(60)\nprint('parent done')"
    start = time.monotonic()
    result = run_program(code, timeout=10)
    assert result.error is None and program_answer(result) == "parent done"
    assert time.monotonic() - start < 5.0  # the background child did not hold the run to its timeout


def test_write_outside_the_working_directory(tmp_path):
    targets = {"test directory": tmp_path / f"escape-{uuid.uuid4().hex}",
               "/tmp": Path("/tmp") / f"escape-{uuid.uuid4().hex}",
               "repository": Path(__file__).resolve().parents[1] / f"escape-{uuid.uuid4().hex}"}
    code = textwrap.dedent(f"""
        import json, os
        outcome = {{}}
        for name, path in {json.dumps({k: str(v) for k, v in targets.items()})}.items():
            try:
                open(path, "w").write("escaped")
                outcome[name] = "written"
            except OSError as e:
                outcome[name] = e.strerror
        print(json.dumps(outcome))
    """)
    result = run_program(code)
    outcome = json.loads(result.stdout)
    print(f"\nwrite attempts: {outcome}; confinement: {result.confinement}")
    created = [name for name, path in targets.items() if path.exists()]
    for path in targets.values():
        path.unlink(missing_ok=True)
    contained = set()
    if "read-only-fs" in result.confinement:
        contained = set(targets)
    elif "throwaway-uid" in result.confinement:
        contained = {"test directory", "repository"}  # root-owned; /tmp is writable by anyone
    if not contained:
        pytest.skip("not root: the program writes wherever this user can (see sandbox.py)")
    assert all(outcome[name] in ("Read-only file system", "Permission denied") for name in contained)
    assert not set(created) & contained


# The attack of a program that holds CAP_DAC_READ_SEARCH: a file handle (name_to_handle_at needs no
# capability, and handles of a disk file system are guessable) opened with open_by_handle_at through
# the writable working directory's mount gives a descriptor on the same disk that ignores the
# read-only mounts: a file can be created in /tmp or a world-writable file modified, wherever it is.
_HANDLE_ESCAPE = """
import ctypes, json, os
libc = ctypes.CDLL(None, use_errno=True)

class FileHandle(ctypes.Structure):
    _fields_ = [("handle_bytes", ctypes.c_uint), ("handle_type", ctypes.c_int),
                ("f_handle", ctypes.c_ubyte * 128)]

def handle_of(path):
    handle, mount_id = FileHandle(128, 0), ctypes.c_int()
    if libc.name_to_handle_at(-100, path.encode(), ctypes.byref(handle), ctypes.byref(mount_id), 0):
        raise OSError(ctypes.get_errno(), "name_to_handle_at")
    return handle

def open_by_handle(handle, flags):
    fd = libc.open_by_handle_at(os.open(".", os.O_RDONLY), ctypes.byref(handle), flags)
    if fd < 0:
        raise OSError(ctypes.get_errno(), "open_by_handle_at: " + os.strerror(ctypes.get_errno()))
    return fd

def attempt(write):
    try:
        write()
        return "written"
    except OSError as e:
        return e.strerror

def create_in_tmp():
    tmp = open_by_handle(handle_of("/tmp"), os.O_RDONLY | os.O_DIRECTORY)
    os.write(os.open(NAME, os.O_CREAT | os.O_WRONLY, 0o644, dir_fd=tmp), b"escaped")

def modify_given_file():
    handle = FileHandle(len(GIVEN[1]) // 2, GIVEN[0])
    handle.f_handle[:len(GIVEN[1]) // 2] = bytes.fromhex(GIVEN[1])
    os.write(open_by_handle(handle, os.O_WRONLY), b"escaped")

status = dict(line.split(":\t") for line in open("/proc/self/status").read().splitlines() if ":\t" in line)
capabilities = [int(status[key], 16) for key in ("CapEff", "CapPrm", "CapAmb", "CapBnd")]
print(json.dumps({"tmp": attempt(create_in_tmp), "given": attempt(modify_given_file),
                  "capabilities": capabilities}))
"""


def _file_handle(path):
    """name_to_handle_at from this test process: (handle type, handle bytes as hex)."""
    import ctypes
    libc = ctypes.CDLL(None, use_errno=True)
    buffer, mount_id = (ctypes.c_ubyte * 136)(), ctypes.c_int()
    ctypes.c_uint.from_buffer(buffer).value = 128
    assert libc.name_to_handle_at(-100, str(path).encode(), buffer, ctypes.byref(mount_id), 0) == 0
    size, kind = ctypes.c_uint.from_buffer(buffer).value, ctypes.c_int.from_buffer(buffer, 4).value
    return kind, bytes(buffer[8:8 + size]).hex()


@pytest.mark.skipif(not ROOT, reason="without root the program may write wherever this user can anyway")
def test_file_handle_escape(tmp_path):
    """open_by_handle_at through the writable working directory does not get past the read-only file
    system: the program holds no capability, and its working directory is a file system of its own."""
    name = f"escape-{uuid.uuid4().hex}"
    given = tmp_path / "world-writable.txt"  # in a directory only root can enter; the file itself is 0666
    given.write_text("original")
    given.chmod(0o666)
    code = f"NAME = {name!r}\nGIVEN = {_file_handle(given)!r}\n" + _HANDLE_ESCAPE
    result = run_program(code)
    created = (Path("/tmp") / name).exists()
    (Path("/tmp") / name).unlink(missing_ok=True)
    outcome = json.loads(result.stdout)
    print(f"\nhandle escape: {outcome}; confinement: {result.confinement}")
    if "read-only-fs" not in result.confinement:
        pytest.skip("no mount namespace here: /tmp is writable by the throwaway user anyway")
    assert not created and given.read_text() == "original"
    assert outcome["tmp"] != "written" and outcome["given"] != "written"
    assert "no-capabilities" in result.confinement and outcome["capabilities"] == [0, 0, 0, 0]
    assert "Operation not permitted" in outcome["tmp"]  # EPERM: open_by_handle_at needs the capability


@pytest.mark.skipif(not ROOT or not sandbox._hidden_interpreter()[0],
                    reason="needs an interpreter other users cannot reach")
def test_hidden_interpreter_is_shown_alone():
    """pyenv under /root: the program starts without any capability, and of /root sees only the way
    to the interpreter."""
    private_dirs, interpreter_dirs = sandbox._hidden_interpreter()
    code = f"import json, os\nprint(json.dumps({{p: os.listdir(p) for p in {private_dirs!r}}}))"
    result = run_program(code)
    if "read-only-fs" not in result.confinement:
        pytest.skip("no mount namespace here: the interpreter is read through CAP_DAC_READ_SEARCH")
    assert result.error is None and "no-capabilities" in result.confinement
    for private, seen in json.loads(result.stdout).items():
        expected = {Path(path).relative_to(private).parts[0]
                    for path in interpreter_dirs if path.startswith(private + "/")}
        assert set(seen) == expected, (private, seen)


def test_memory_across_processes():
    """Five children holding 64 MB each under a 160 MB limit: the limit holds for all of them together
    (the per-process address-space limit alone would let them reach 320 MB)."""
    code = textwrap.dedent("""
        import json, os, select, time
        read_end, write_end = os.pipe()
        children = []
        for _ in range(5):
            pid = os.fork()
            if pid == 0:
                block = b"\\1" * (64 << 20)  # written, so resident
                os.write(write_end, b"+")
                time.sleep(60)
                os._exit(0)
            children.append(pid)
        alive, ready, deadline = set(children), 0, time.time() + 5
        while ready + len(children) - len(alive) < len(children) and time.time() < deadline:
            if select.select([read_end], [], [], 0.05)[0]:
                ready += len(os.read(read_end, 16))
            alive -= {pid for pid in alive if os.waitpid(pid, os.WNOHANG)[0]}
        rss = 0
        for pid in [os.getpid(), *alive]:
            status = dict(line.split(":", 1) for line in open(f"/proc/{pid}/status").read().splitlines())
            rss += int(status["VmRSS"].split()[0]) << 10
        print(json.dumps({"alive": len(alive), "rss_mb": rss / 2 ** 20}))
    """)
    result = run_program(code, memory_mb=160, timeout=10)
    print(f"\n5 forks x 64 MB under memory_mb=160: {result.stdout.strip()} {result.confinement}")
    if "memory-total" not in result.confinement:
        pytest.skip("no memory cgroup here: each process alone is limited (see sandbox.py)")
    report = json.loads(result.stdout)
    assert result.error is None and report["rss_mb"] <= 160
    assert 1 <= report["alive"] < 5  # some children got their 64 MB; the others were killed


def test_memory_cgroup_kill_is_reported():
    """A child that takes the program past memory_mb in total is killed by the kernel (each process alone
    stays below its own limit, so no MemoryError); the program fails for it: error "memory"."""
    code = textwrap.dedent("""
        import os, time
        pid = os.fork()
        if pid == 0:
            block = b"\\1" * (60 << 20)
            time.sleep(2)
            os._exit(0)
        time.sleep(0.3)
        block = b"\\2" * (60 << 20)  # 120 MB in all: the child, then the larger, is killed
        assert os.waitpid(pid, 0)[1] == 0, "the child was killed"
        print("both done")
    """)
    result = run_program(code, memory_mb=100)
    print(f"\n{result.stderr.strip().splitlines()[-1:]} {result.confinement}")
    if "memory-total" not in result.confinement:
        pytest.skip("no memory cgroup here")
    assert result.error == "memory" and "the child was killed" in result.stderr and not result.stdout


def test_disk_cap_in_the_working_directory():
    """Many files, each below the file-size limit, stop at disk_mb in total."""
    code = textwrap.dedent("""
        import os
        written = 0
        try:
            for i in range(100):
                with open(f"part-{i}", "wb") as f:
                    f.write(b"0" * (4 << 20))
                written += 4
        except OSError as e:
            print(written, e.strerror)
    """)
    result = run_program(code, disk_mb=32, memory_mb=256)
    print(f"\nwriting 4 MB files with disk_mb=32: {result.stdout.strip()} {result.confinement}")
    if "disk-limit" not in result.confinement:
        pytest.skip("no mount namespace here: the working directory is on the shared disk (see sandbox.py)")
    written, reason = result.stdout.strip().split(" ", 1)
    assert result.error is None and 24 <= int(written) <= 32 and reason == "No space left on device"


def test_output_flood_is_cut():
    start = time.monotonic()
    result = run_program("import sys\nsys.stdout.write('x' * 10 ** 8)\nprint('end')", max_output=1 << 20)
    elapsed = time.monotonic() - start
    print(f"\n100 MB of output cut to {len(result.stdout)} characters in {elapsed:.2f} s")
    assert result.truncated and result.error == "output_limit" and len(result.stdout) == 1 << 20
    assert program_answer(result) is None
    flood = run_program("import sys\nwhile True:\n    sys.stderr.write('y' * 4096)", max_output=1000)
    assert flood.truncated and len(flood.stderr) == 1000 and not flood.timed_out


def test_disk_flood_is_cut():
    result = run_program("open('big', 'wb').write(b'0' * (100 << 20))")  # above the 64 MB file limit
    assert result.error == "exception" and "File too large" in result.stderr


def test_no_network_and_no_root():
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen()
    port = server.getsockname()[1]
    code = textwrap.dedent(f"""
        import os, socket
        try:
            socket.create_connection(("127.0.0.1", {port}), timeout=2)
            print("connected")
        except OSError as e:
            print("refused", e.errno)
        try:
            os.setuid(0)
            print("root")
        except OSError:
            print("not root")
    """)
    try:
        result = run_program(code)
    finally:
        server.close()
    lines = result.stdout.split("\n")
    if "no-network" in result.confinement:
        assert lines[0].startswith("refused")
    if ROOT:
        assert lines[1] == "not root"


@pytest.mark.skipif(not ROOT or not sandbox._hidden_interpreter()[0],
                    reason="needs an interpreter other users cannot reach")
def test_sandbox_failure_is_reported(monkeypatch):
    """Neither shown by a mount nor readable through a capability, an interpreter that lives under
    /root cannot start: that must come back as a sandbox error, not as the program's own exception."""
    monkeypatch.setattr(sandbox, "_hidden_interpreter", lambda: ([], []))
    result = run_program("print(1)")
    assert result.error == "sandbox" and result.confinement == () and program_answer(result) is None
    assert "Permission denied" in result.stderr


def test_concurrent_runs():
    """evaluate.py runs programs from threads: the runs must not mix up output or kill each other."""
    results = {}

    def run(i):
        results[i] = run_program(f"import time\ntime.sleep(0.2)\nprint({i} * 11)")

    threads = [threading.Thread(target=run, args=(i,)) for i in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert {i: program_answer(r) for i, r in results.items()} == {i: str(i * 11) for i in range(4)}


@pytest.mark.skipif(not ROOT or not shutil.which("setpriv"),
                    reason="needs root and setpriv to become another user")
def test_as_an_ordinary_user():
    """The path for users who are not root: no throwaway user, the process limit counts the user's own
    tasks. Run as uid 54321, allowed to read the interpreter (which may live under /root)."""
    script = textwrap.dedent("""
        import json, os
        from sandbox import run_program
        fork = "import os, time\\nn = 0\\ntry:\\n    while True:\\n        if os.fork() == 0:\\n" \\
               "            time.sleep(60)\\n            os._exit(0)\\n        n += 1\\n" \\
               "except OSError:\\n    print(n)"
        forked = run_program(fork, max_processes=8)
        normal = run_program("print(6 * 7)")
        left = [p for p in os.listdir("/proc") if p.isdigit() and os.stat("/proc/" + p).st_uid == os.getuid()
                and open(f"/proc/{p}/stat").read().rsplit(")", 1)[1].split()[0] != "Z"
                and int(p) != os.getpid()]
        print(json.dumps({"forked": forked.stdout, "normal": normal.stdout, "confinement": normal.confinement,
                          "left": left}))
    """)
    done = subprocess.run(["setpriv", "--reuid", "54321", "--regid", "54321", "--clear-groups",
                           "--inh-caps", "+dac_read_search", "--ambient-caps", "+dac_read_search",
                           sys.executable, "-c", script], cwd=Path(__file__).resolve().parents[1],
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    report = json.loads(done.stdout)
    print(f"\nas uid 54321: {report}")
    # no cgroup of its own to create, no namespaces; it passes on the capability it needs for the interpreter
    assert report["normal"] == "42\n" and report["confinement"] == ["rlimits", "reads-any-file"]
    assert 0 < int(report["forked"]) <= 8
    assert report["left"] == []


@pytest.mark.skipif(not ROOT or not shutil.which("setpriv"), reason="needs root and setpriv")
def test_as_root_without_namespaces():
    """Root without CAP_SYS_ADMIN (a container's default): no mount or network namespace, and the
    other layers still hold; confinement says which."""
    script = "import json, sandbox\nprint(json.dumps(sandbox.run_program('print(6 * 7)').__dict__))"
    done = subprocess.run(["setpriv", "--bounding-set", "-sys_admin", sys.executable, "-c", script],
                          cwd=Path(__file__).resolve().parents[1], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    result = json.loads(done.stdout)
    print(f"\nas root without CAP_SYS_ADMIN: {result['confinement']}")
    assert result["stdout"] == "42\n" and result["error"] is None
    layers = set(result["confinement"])
    assert {"rlimits", "throwaway-uid"} <= layers
    assert not layers & {"no-network", "read-only-fs", "disk-limit"}
    # a hidden interpreter can only be read through the capability now, and the result says so
    assert ("reads-any-file" if sandbox._hidden_interpreter()[0] else "no-capabilities") in layers
