#!/usr/bin/python3
"""Paired timing of two (or more) commands, each run after a pause.

  bench/ab_pause.py [--runs N] [--pause S] [--warm FILE] [--cold] [--after-torch FILE] [--remove FILE] -- 'CMD A' 'CMD B' ...

Runs the commands in turn (A B A B ...), and before each run syncs, reads
--warm into the page cache and waits --pause seconds (or, with
--after-torch, runs torch.load of that file in a separate Python first, as
bench/run's peers do). With --cold (root), the page cache is dropped
instead of warmed and the command's own program loaded back in
(`PROGRAM --version`), as bench/run's cold runs do. Prints each command's median wall time and every
run's. Why a pause: on virtual machines that hand free memory back to
their host, memory freed in the last second or two is still backed, older
free memory is not, and which one a command meets changes its time by a
third or more. A command's output goes to a temporary file, as in bench/run.
--remove deletes a file (a conversion's output) before each run, before the
sync and the pause, as bench/run deletes its outputs: no run pays for
replacing the one before, and the memory it frees ages like any other.
"""
import argparse
import os
import shlex
import statistics
import subprocess
import sys
import tempfile
import time


def warm(path):
    with open(path, "rb") as f:
        while f.read(1 << 24):
            pass


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--runs", type=int, default=7)
    ap.add_argument("--pause", type=float, default=2.0, help="seconds idle before each run")
    ap.add_argument("--warm", help="file read into the page cache before each run")
    ap.add_argument("--cold", action="store_true", help="drop the page cache before each run, then load the program back in")
    ap.add_argument("--after-torch", help="run torch.load(FILE) in /usr/bin/python3 before each run")
    ap.add_argument("--remove", action="append", default=[], help="file deleted before each run (repeatable)")
    ap.add_argument("commands", nargs="+")
    a = ap.parse_args()
    cmds = [shlex.split(c) for c in a.commands]
    times = [[] for _ in cmds]
    for _ in range(a.runs):
        for k, argv in enumerate(cmds):
            if a.after_torch:
                subprocess.run(["/usr/bin/python3", "-c", "import sys, torch; torch.load(sys.argv[1])", a.after_torch],
                               stdout=subprocess.DEVNULL, check=True)
            for path in a.remove:
                if os.path.exists(path):
                    os.remove(path)
            os.sync()
            if a.cold:
                with open("/proc/sys/vm/drop_caches", "w") as f:
                    f.write("3\n")
                subprocess.run([argv[0], "--version"], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            elif a.warm:
                warm(a.warm)
            time.sleep(a.pause)
            with tempfile.TemporaryFile() as out:
                t0 = time.perf_counter()
                r = subprocess.run(argv, stdout=out, stderr=subprocess.DEVNULL)
                times[k].append(time.perf_counter() - t0)
            if r.returncode != 0:
                sys.exit(f"ab_pause: {a.commands[k]!r} exited {r.returncode}")
    for path in a.remove:
        if os.path.exists(path):
            os.remove(path)
    for k, c in enumerate(a.commands):
        print(f"{statistics.median(times[k]):.3f} s median  [{' '.join(f'{t:.3f}' for t in times[k])}]  {c}")


if __name__ == "__main__":
    main()
