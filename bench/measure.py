#!/usr/bin/env python3
"""Runs a command and measures its wall time and the peak memory of its whole process tree.

  measure.py OUT.json -- CMD [ARGS...]

The command runs under `/usr/bin/time -v` (GNU time). Every 0.5 s the process tree rooted
at the time process is walked through /proc (ppid links) and the RSS (VmRSS) and the PSS
(/proc/PID/smaps_rollup) of every process in it are summed; the peak sums are reported.
  peak_tree_rss_mib : peak of the sum of RSS over the tree (pages shared between processes
                      counted once per process: an upper bound)
  peak_tree_pss_mib : peak of the sum of PSS (shared pages split between their users)
  time_maxrss_mib   : GNU time's "Maximum resident set size": the largest single process of
                      the tree (getrusage RUSAGE_CHILDREN), exact but not a sum
  wall_seconds      : wall time of the command, process start to exit
The command's stdout and stderr pass through unchanged. Exit status: the command's.
"""
import json
import os
import subprocess
import sys
import threading
import time

PAGE_KIB = os.sysconf("SC_PAGE_SIZE") // 1024


def children_map():
    kids = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat") as f:
                stat = f.read()
        except OSError:
            continue
        ppid = int(stat[stat.rfind(")") + 2 :].split()[1])
        kids.setdefault(ppid, []).append(int(entry))
    return kids


def tree(root):
    kids = children_map()
    out, todo = [], [root]
    while todo:
        pid = todo.pop()
        out.append(pid)
        todo.extend(kids.get(pid, []))
    return out


def rss_pss_kib(pid):
    rss = pss = 0
    try:
        with open(f"/proc/{pid}/statm") as f:
            rss = int(f.read().split()[1]) * PAGE_KIB
        with open(f"/proc/{pid}/smaps_rollup") as f:
            for line in f:
                if line.startswith("Pss:"):
                    pss = int(line.split()[1])
                    break
    except OSError:
        pass
    return rss, pss


def main() -> int:
    if len(sys.argv) < 4 or sys.argv[2] != "--":
        print(__doc__, file=sys.stderr)
        return 2
    out_path, cmd = sys.argv[1], sys.argv[3:]
    time_file = out_path + ".time.txt"
    start = time.perf_counter()
    proc = subprocess.Popen(["/usr/bin/time", "-v", "-o", time_file] + cmd)
    peak = {"rss": 0, "pss": 0, "procs": 0, "samples": 0}
    done = threading.Event()

    def sample():
        while not done.is_set():
            rss = pss = 0
            pids = tree(proc.pid)
            for pid in pids:
                r, p = rss_pss_kib(pid)
                rss += r
                pss += p
            peak["rss"] = max(peak["rss"], rss)
            peak["pss"] = max(peak["pss"], pss)
            peak["procs"] = max(peak["procs"], len(pids))
            peak["samples"] += 1
            done.wait(0.5)

    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    rc = proc.wait()
    wall = time.perf_counter() - start
    done.set()
    sampler.join()
    maxrss_kib = None
    try:
        with open(time_file) as f:
            for line in f:
                if "Maximum resident set size" in line:
                    maxrss_kib = int(line.rsplit(":", 1)[1])
    except OSError:
        pass
    result = {
        "command": cmd,
        "exit_code": rc,
        "wall_seconds": round(wall, 3),
        "peak_tree_rss_mib": round(peak["rss"] / 1024, 1),
        "peak_tree_pss_mib": round(peak["pss"] / 1024, 1),
        "time_maxrss_mib": None if maxrss_kib is None else round(maxrss_kib / 1024, 1),
        "max_processes": peak["procs"],
        "samples": peak["samples"],
    }
    with open(out_path, "w") as f:
        json.dump(result, f, indent=1)
    return rc


if __name__ == "__main__":
    sys.exit(main())
