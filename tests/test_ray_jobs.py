"""Jobs on Ray (issue 17, docs/scale-out.md): register, scan and extract with ``--ray``.

The Ray tests (marked ``backend``: ``make test-backends``) start a local two-CPU Ray cluster
in a child process (``ray_address``) and run the CLI against its address: the same works and
the same scan JSON as without Ray, in input order; a corrupt file is one error line; a task
whose worker dies is retried, and a file whose worker always dies is one error line.
The first two tests need no Ray: ``--ray`` without it installed, and the default command not
importing it.
"""

from __future__ import annotations

import json
import os
import secrets
import shutil
import subprocess
import sys
import tempfile
import textwrap

import numpy as np
import pytest
from helpers import run_cli

from reeltrace import cluster

backend = pytest.mark.backend

# The cluster lives in a child process that owns it: closing its standard input shuts it
# down (ray.shutdown stops the processes it started, and only those).
_CLUSTER = textwrap.dedent("""
    import sys
    import ray

    ray.init(num_cpus=2, include_dashboard=False, object_store_memory=150 << 20, _temp_dir=sys.argv[1],
             log_to_driver=False)
    print(ray.get_runtime_context().gcs_address, flush=True)
    sys.stdin.read()
    ray.shutdown()
""")


@pytest.fixture(scope="module")
def ray_address():
    """The address of a local Ray cluster of 2 CPUs, with token authentication (Ray's default)
    on a token of its own; the CLI in this process is given the token as a user would be."""
    auth = {"RAY_AUTH_MODE": "token", "RAY_AUTH_TOKEN": secrets.token_hex(16)}
    saved = {name: os.environ.get(name) for name in auth}
    os.environ.update(auth)  # before Ray is imported here: it reads its mode once
    pytest.importorskip("ray")
    temp = tempfile.mkdtemp(prefix="rt-ray-", dir="/tmp")  # short: Ray's socket paths live under it
    proc = subprocess.Popen([sys.executable, "-c", _CLUSTER, temp], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                            text=True)  # fmt: skip
    try:
        address = proc.stdout.readline().strip()
        assert address and proc.poll() is None, "the local Ray cluster did not start"
        yield address
    finally:
        for name, value in saved.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value
        proc.stdin.close()
        try:
            proc.wait(timeout=60)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        shutil.rmtree(temp, ignore_errors=True)


@pytest.fixture
def corrupt_file(tmp_path, work_a_file) -> str:
    path = str(tmp_path / "corrupt.mp4")
    with open(work_a_file, "rb") as src, open(path, "wb") as dst:
        dst.write(src.read(6000))  # a header and nothing after it
    return path


def _works(folder: str) -> list[dict]:
    res = run_cli("--library", folder, "works", "--format", "json")
    assert res.code == 0, res.err
    works = res.json()["works"]
    for work in works:
        work.pop("registered_at")
    return works


def _errors(err: str) -> list[str]:
    return [line for line in err.splitlines() if line.startswith("reeltrace: ")]


def test_ray_not_installed_is_one_line(tmp_path, monkeypatch):
    monkeypatch.setitem(sys.modules, "ray", None)  # import ray fails; find_spec says absent
    folder = str(tmp_path / "library")
    res = run_cli("--library", folder, "register", str(tmp_path / "film.mp4"), "--ray", "auto")
    assert res.code == 1
    assert res.err.splitlines() == ["reeltrace: " + cluster.INSTALL_HINT]
    assert not os.path.exists(folder), "nothing is created before --ray is refused"


def test_default_command_does_not_import_ray():
    code = "import sys; from reeltrace import cli; cli.build_parser().parse_args(['scan', 'x', '--ray', 'local:2']); " \
           "print('ray' in sys.modules)"  # fmt: skip
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "False"


@backend
def test_register_on_ray_gives_the_same_works(ray_address, work_files, corrupt_file, tmp_path):
    paths = [work_files["A"], corrupt_file, work_files["B"], work_files["C"]]
    local, remote = str(tmp_path / "local"), str(tmp_path / "ray")
    here = run_cli("--library", local, "register", *paths)
    there = run_cli("--library", remote, "register", *paths, "--ray", ray_address)
    assert here.code == there.code == 1, there.err  # one input failed, the rest were registered
    assert there.out == here.out  # the same ids, in input order
    assert [line.split("\t")[2] for line in there.out.splitlines()] == [paths[0], paths[2], paths[3]]
    assert _errors(there.err) == _errors(here.err) and len(_errors(there.err)) == 1
    assert corrupt_file in _errors(there.err)[0]
    works = _works(remote)
    assert works == _works(local)  # ids, titles, durations, frame counts, hashes, source paths
    assert len(works) == 3 and all(w["frames"] > 0 for w in works)
    # Registered content is recognised on the worker, by its hash, without extracting it again.
    again = run_cli("--library", remote, "register", work_files["B"], "--ray", ray_address)
    assert again.code == 0 and "\talready registered\t" in again.out


@backend
def test_scan_on_ray_gives_the_same_json(ray_address, library, compilation, work_files, unrelated_file, corrupt_file):
    paths = [compilation[0], corrupt_file, work_files["C"], unrelated_file]
    here = run_cli("--library", library, "scan", *paths, "--format", "json")
    there = run_cli("--library", library, "scan", *paths, "--format", "json", "--ray", ray_address)
    assert here.code == there.code == 1
    assert there.out == here.out  # byte for byte: the same JSON, in input order
    results = there.json()["results"]
    assert [r["query"] for r in results] == paths
    assert results[1]["error"] and not any(r["error"] for r in results[:1] + results[2:])
    assert {m["work_id"] for m in results[0]["matches"]} == {"work-a", "work-b"}
    assert [m["work_id"] for m in results[2]["matches"]] == ["work-c"] and not results[3]["matches"]
    assert _errors(there.err) == _errors(here.err) and len(_errors(there.err)) == 1


@backend
def test_extract_on_ray_writes_the_same_features(ray_address, work_files, tmp_path):
    here = run_cli("extract", work_files["C"], "--output", str(tmp_path / "local"))
    there = run_cli("extract", work_files["C"], "--output", str(tmp_path / "ray"), "--ray", ray_address)
    assert here.code == there.code == 0, there.err
    with np.load(tmp_path / "local" / "work_c.npz") as a, np.load(tmp_path / "ray" / "work_c.npz") as b:
        assert sorted(a.files) == sorted(b.files)
        for name in a.files:
            assert np.array_equal(a[name], b[name]), name


@backend
def test_a_task_whose_worker_dies_is_retried(ray_address, work_files, tmp_path, monkeypatch):
    plans = tmp_path / "crash"
    plans.mkdir()
    (plans / "work_a.mp4").write_text("1")  # dies once: retried, registered
    (plans / "work_c.mp4").write_text("99")  # dies every time: one error line
    monkeypatch.setenv(cluster.CRASH_ENV, str(plans))
    folder = str(tmp_path / "library")
    paths = [work_files["A"], work_files["B"], work_files["C"]]
    res = run_cli("--library", folder, "register", *paths, "--ray", ray_address)
    assert res.code == 1
    assert [line.split("\t")[1:] for line in res.out.splitlines()] == [["registered", paths[0]], ["registered", paths[1]]]
    tries = cluster.MAX_RETRIES + 1
    assert _errors(res.err) == [f"reeltrace: {paths[2]}: failed on the Ray cluster after {tries} tries (WorkerCrashedError)"]
    assert (plans / "work_a.mp4").read_text() == "0"
    assert (plans / "work_c.mp4").read_text() == str(99 - tries)
    assert json.loads(run_cli("--library", folder, "works", "--format", "json").out)["works"][0]["frames"] > 0
