"""`python -m trainer.logtee LOG -- CMD...`: run CMD, copy its output to stdout and to LOG, exit
with its code. Dagster streams stdout; LOG keeps the tail for a failure message. SIGINT/SIGTERM
are passed on so an interrupted run stops its ranks."""
from __future__ import annotations

import signal
import subprocess
import sys
from pathlib import Path


def main(argv: list[str]) -> int:
    if len(argv) < 3 or argv[1] != "--":
        print("usage: python -m trainer.logtee LOG -- CMD...", file=sys.stderr)
        return 2
    log = Path(argv[0])
    log.parent.mkdir(parents=True, exist_ok=True)
    child = subprocess.Popen(argv[2:], stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda s, _f: child.send_signal(s))
    assert child.stdout is not None
    with open(log, "wb") as out:
        for line in iter(child.stdout.readline, b""):
            sys.stdout.buffer.write(line)
            sys.stdout.flush()
            out.write(line)
            out.flush()
    return child.wait()


def tail(log: Path, lines: int = 60) -> str:
    if not log.is_file():
        return "(no log written)"
    return "\n".join(log.read_text(errors="replace").splitlines()[-lines:])


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
