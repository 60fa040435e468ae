"""A stand-in for a Python test suite of awa: reads DATABASE_URL and AWA_TEST_ENGINE."""
import os
import subprocess

import pytest


def psql(sql):
    out = subprocess.run(["psql", os.environ["DATABASE_URL"], "-XtAc", sql], capture_output=True, text=True, check=True)
    return out.stdout.strip()


def test_reads_the_cells_database():
    assert psql("select current_database()").startswith("awacompat_")
    assert int(psql("select max(version) from awa.schema_version")) >= 40


def test_engine_is_one_of_awas():
    assert os.environ["AWA_TEST_ENGINE"] in ("canonical", "queue_storage")


def test_fails_under_queue_storage():
    assert os.environ["AWA_TEST_ENGINE"] == "canonical", "a defect only queue storage shows"


def test_skipped_needs_a_chaos_proxy():
    pytest.skip("no chaos proxy on this machine")
