"""Shared by the tests of the test peers (tools/test_*.py): a peer run as a process, as the Rust
tests run it."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Iterator


def serve(script: str) -> Iterator[str]:
    """Starts tools/<script> on a free loopback port, yields its endpoint, and stops it (the peers
    stop themselves when their stdin closes)."""
    proc = subprocess.Popen(
        [sys.executable, str(Path(__file__).with_name(script)), "--port", "0", "--exit-on-stdin-eof"],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    assert proc.stdin is not None and proc.stdout is not None
    try:
        line = proc.stdout.readline()
        assert line, f"tools/{script} exited before listening"
        yield json.loads(line)["endpoint"]
    finally:
        proc.stdin.close()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
