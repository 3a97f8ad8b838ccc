"""The peak memory of a command and every process it starts, shared pages counted once (Linux).

    python benchmarks/peak_memory.py python -m numpyvit train --preset quick

With worker processes the parent's own peak (VmHWM, ru_maxrss) is no longer the run's: each
worker has its own. Adding the workers' resident sizes would count twice every page they
share (the shared weights, and with fork the parent's pages they have not written). The
proportional set size (PSS) divides each shared page among the processes that map it, so the
sum of the PSS of a tree of processes counts each page once. This samples that sum every
--every seconds while the command runs; a peak shorter than that can be missed.
"""
import argparse
import subprocess
import sys
import time
from pathlib import Path


def descendants(pid):
    """pid and every process below it, from the parent ids in /proc/*/stat."""
    children = {}
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        children.setdefault(int(fields[1]), []).append(int(stat.parent.name))
    tree, todo = [], [pid]
    while todo:
        p = todo.pop()
        tree.append(p)
        todo.extend(children.get(p, []))
    return tree


def pss_kib(pid):
    try:
        for line in Path(f"/proc/{pid}/smaps_rollup").read_text().splitlines():
            if line.startswith("Pss:"):
                return int(line.split()[1])
    except OSError:                  # the process ended meanwhile
        pass
    return 0


def peak_tree_pss(command, every=0.2, timeout=None, **popen):
    """Run `command`; return (its CompletedProcess-like result, peak summed PSS in MiB,
    peak process count)."""
    run = subprocess.Popen(command, **popen)
    peak, most, start = 0, 0, time.monotonic()
    while run.poll() is None:
        tree = descendants(run.pid)
        peak = max(peak, sum(pss_kib(p) for p in tree))
        most = max(most, len(tree))
        if timeout and time.monotonic() - start > timeout:
            run.kill()
        time.sleep(every)
    out, err = run.communicate()
    return run.returncode, out, err, peak / 1024, most


def main(argv=None):
    ap = argparse.ArgumentParser(prog="python benchmarks/peak_memory.py", description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--every", type=float, default=0.2, help="seconds between samples (default 0.2)")
    ap.add_argument("command", nargs=argparse.REMAINDER, help="the command to run")
    args = ap.parse_args(argv)
    if not args.command:
        ap.error("give a command to run")
    code, _, _, peak, most = peak_tree_pss(args.command, args.every)
    print(f"peak memory of the command and its processes (summed PSS): {peak:.0f} MiB, "
          f"up to {most} processes; exit status {code}", file=sys.stderr)
    return code


if __name__ == "__main__":
    sys.exit(main())
