"""numpyvit.files: the one atomic writer and the JSONL reader."""
import csv
import json
import os

import numpy as np
import pytest

from numpyvit.files import read_jsonl, write_atomic, write_csv, write_json, write_jsonl


def test_each_writer_writes_what_its_reader_reads_back(tmp_path):
    write_json(tmp_path / "a.json", {"x": [1, 2.5]})
    assert json.loads((tmp_path / "a.json").read_text()) == {"x": [1, 2.5]}
    rows = [{"epoch": 1, "loss": 0.5}, {"epoch": 2, "loss": None}]
    write_jsonl(tmp_path / "m.jsonl", rows)
    assert read_jsonl(tmp_path / "m.jsonl") == rows
    write_csv(tmp_path / "r.csv", [{"a": 1, "b": 2, "dropped": 3}], ["a", "b"])
    with open(tmp_path / "r.csv", newline="") as f:
        assert list(csv.DictReader(f)) == [{"a": "1", "b": "2"}]
    write_atomic(tmp_path / "b.bin", b"\x00\x01")
    assert (tmp_path / "b.bin").read_bytes() == b"\x00\x01"
    write_atomic(tmp_path / "x.npz", lambda f: np.savez(f, w=np.arange(3)))
    with np.load(tmp_path / "x.npz") as npz:
        assert npz["w"].tolist() == [0, 1, 2]


def test_a_write_that_fails_midway_leaves_the_old_file_whole_and_no_temporary(tmp_path):
    target = tmp_path / "last.npz"
    target.write_bytes(b"the previous checkpoint")

    def half_then_crash(f):
        f.write(b"half of a new one")
        raise KeyboardInterrupt            # a Ctrl-C mid-write

    with pytest.raises(KeyboardInterrupt):
        write_atomic(target, half_then_crash)
    assert target.read_bytes() == b"the previous checkpoint"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["last.npz"]


def test_files_are_ordinary_files_not_private_to_their_writer(tmp_path):
    old = os.umask(0o022)
    try:
        path = write_atomic(tmp_path / "sub" / "f.txt", "text")      # the folder is made too
    finally:
        os.umask(old)
    assert path.read_text() == "text" and oct(path.stat().st_mode & 0o777) == oct(0o644)


def test_read_jsonl_skips_blank_lines(tmp_path):
    (tmp_path / "m.jsonl").write_text('{"a": 1}\n\n{"a": 2}\n')
    assert read_jsonl(tmp_path / "m.jsonl") == [{"a": 1}, {"a": 2}]
