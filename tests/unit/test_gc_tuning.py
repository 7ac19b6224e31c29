"""A server process tunes the garbage collector once it has started (taskloom/gc_tuning.py):
the start-up heap frozen, a larger young generation. An app built anywhere else (tests, the
MCP stdio server) keeps Python's defaults. Each check runs in a fresh interpreter, since the
collector's settings are global to a process."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path

from taskloom.gc_tuning import YOUNG_THRESHOLD

SRC = Path(__file__).resolve().parents[2] / "src"


def _python(code: str, tmp_path: Path) -> str:
    env = {**os.environ, "PYTHONPATH": f"{SRC}{os.pathsep}{os.environ.get('PYTHONPATH', '')}",
           "TASKLOOM_JWT_SECRET": "x" * 32, "TASKLOOM_DATA_DIR": str(tmp_path)}
    done = subprocess.run([sys.executable, "-c", textwrap.dedent(code)], env=env, capture_output=True, text=True,
                          timeout=120, cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    return done.stdout.split()[-1]


def test_a_serving_app_freezes_its_start_up_heap_and_widens_the_young_generation(tmp_path: Path) -> None:
    code = """
        import gc, sys
        from fastapi.testclient import TestClient
        from taskloom.api.app import create_app
        from taskloom.config import Settings
        default = gc.get_threshold()
        app = create_app(Settings(database_url="sqlite:///g.db", jwt_secret="x" * 32), serving={serving},
                         run_services=False)
        with TestClient(app):
            print(f"{{gc.get_threshold() == default}},{{gc.get_threshold()[0]}},{{gc.get_freeze_count() > 1000}}")
    """
    assert _python(code.format(serving=True), tmp_path) == f"False,{YOUNG_THRESHOLD},True"
    assert _python(code.format(serving=False), tmp_path) == "True,700,False"


def test_taskloom_serve_builds_a_serving_app(tmp_path: Path) -> None:
    code = """
        import uvicorn
        import taskloom.cli as cli
        built = []
        uvicorn.run = lambda app, **options: built.append(app)  # what serve would run, not run
        cli.app(["serve", "--database", "sqlite:///s.db"], standalone_mode=False)
        print(built[0].state.serving)
    """
    assert _python(code, tmp_path) == "True"
