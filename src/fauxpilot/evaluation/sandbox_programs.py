"""The two programs of the sandbox's own: the bootstrap that runs every evaluated program,
and the probe that checks an isolation does what it claims."""

# Reads the pass marker from a pipe and closes it; hands it to an exit handler that only the
# interpreter's own normal exit runs (its Python entry point is replaced; the garbage
# collector's object lists and reads of process memory are refused, so the handler cannot
# be found short of scanning the heap with ctypes); runs the program as __main__. Any
# exception, SystemExit included, ends the process without exit handlers, so the marker is
# written only after the program's last line ran. It is never in argv, the environment, a
# file or a name the program can import. Before the program starts, the bootstrap installs
# the seccomp filter given in hex as its third argument (sandbox_seccomp.py).
BOOTSTRAP = """\
import atexit, os, runpy, sys
def arm(fd):
    marker = os.read(fd, 64)
    os.close(fd)
    def finish():
        sys.stdout.flush()
        os.write(1, b"\\n" + marker + b"\\n")
    atexit.register(finish)
    def refuse(*args):
        raise RuntimeError("the evaluation sandbox refuses this")
    atexit._run_exitfuncs = refuse
    refused = {"gc.get_objects", "gc.get_referrers", "gc.get_referents"}
    def audit(event, args):
        if event in refused:
            raise RuntimeError(f"the evaluation sandbox refuses {event}")
        if event == "open" and isinstance(args[0], (str, bytes)):
            path = os.fsdecode(args[0])
            if path.startswith("/proc/") and path.rstrip("/").endswith(("/mem", "/maps")):
                raise RuntimeError(f"the evaluation sandbox refuses to open {path}")
    sys.addaudithook(audit)
def confine(program):
    if not program:
        return
    import ctypes
    libc = ctypes.CDLL(None, use_errno=True)
    class Filter(ctypes.Structure):
        _fields_ = [("length", ctypes.c_ushort), ("instructions", ctypes.c_void_p)]
    code = ctypes.create_string_buffer(program, len(program))
    rules = Filter(len(program) // 8, ctypes.addressof(code))
    # PR_SET_NO_NEW_PRIVS, then PR_SET_SECCOMP with SECCOMP_MODE_FILTER.
    if libc.prctl(38, 1, 0, 0, 0) or libc.prctl(22, 2, ctypes.byref(rules), 0, 0):
        sys.stderr.write("the evaluation sandbox could not install its system-call filter\\n")
        os._exit(3)
arm(int(sys.argv[2]))
confine(bytes.fromhex(sys.argv[3]))
del arm, confine
try:
    runpy.run_path(sys.argv[1], run_name="__main__")
except SystemExit as exit:
    code = exit.code
    if code is None or code == 0:
        code = "the program exited before its tests finished"
    if not isinstance(code, int):
        sys.stderr.write(f"{code}\\n")
        code = 1
    sys.stderr.flush()
    os._exit(code)
except BaseException:
    import traceback
    traceback.print_exc()
    sys.stderr.flush()
    os._exit(1)
"""
PROBE = """\
import socket
if {filtered}:
    try:
        socket.socket(socket.AF_UNIX).close()
    except PermissionError:
        pass
    else:
        raise SystemExit("the system-call filter let a Unix socket be made")
try:
    socket.create_connection(("127.0.0.1", {port}), timeout=2).close()
except OSError:
    pass
else:
    raise SystemExit("the network is reachable")
with open("probe.txt", "w") as probe:
    probe.write("the working directory is writable")
if {read_only}:
    try:
        open({outside!r}, "x").close()
    except OSError:
        pass
    else:
        raise SystemExit("a file outside the working directory was writable")
    with open("/dev/null", "w") as null, open("/proc/self/status") as status:
        null.write("/dev/null works")
        capabilities = [line.split()[1] for line in status if line.startswith("CapEff:")]
    if int(capabilities[0], 16):
        raise SystemExit("the program has capabilities")
"""
