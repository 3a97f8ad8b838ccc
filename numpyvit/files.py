"""Files a reader never sees half written: one atomic writer, and the JSONL reader.

    write_atomic(path, data)          bytes or str, or a function that writes to an open file
    write_json(path, obj)             indented JSON
    write_jsonl(path, rows)           one JSON object per line (metrics.jsonl, dynamics.jsonl)
    write_csv(path, rows, fields)     a header, then one row per dict
    read_jsonl(path)                  the list of objects write_jsonl wrote

Every writer goes through write_atomic: the bytes go to a temporary file in the target's
own folder (so the final rename never crosses file systems), are flushed to disk, and the
file is renamed over the target in one step. A crash, a Ctrl-C or a full disk leaves the
previous file whole and no temporary behind.
"""
import csv
import io
import json
import os
import tempfile
from pathlib import Path


def write_atomic(path, data, mode=0o644):
    """Write `data` to `path` atomically and return the path.

    data: bytes, str (written as UTF-8), or a callable f(file) that writes to the binary file
    it is given (np.savez, for instance). mode: the file's permissions before the umask
    (tempfile's 0600 would make a cache or a checkpoint private to its writer).
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as f:
            if callable(data):
                data(f)
            else:
                f.write(data.encode() if isinstance(data, str) else data)
            f.flush()
            os.fsync(f.fileno())
        os.chmod(tmp, mode & ~_umask())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return path


def _umask():
    mask = os.umask(0)
    os.umask(mask)
    return mask


def write_json(path, obj):
    return write_atomic(path, json.dumps(obj, indent=1) + "\n")


def write_jsonl(path, rows):
    return write_atomic(path, "".join(json.dumps(row) + "\n" for row in rows))


def read_jsonl(path):
    """The objects of a JSONL file, one per non-empty line."""
    return [json.loads(line) for line in Path(path).read_text().splitlines() if line.strip()]


def write_csv(path, rows, fields):
    """Rows (dicts) under these columns; keys not in `fields` are left out."""
    text = io.StringIO(newline="")
    writer = csv.DictWriter(text, fieldnames=fields, extrasaction="ignore")
    writer.writeheader()
    writer.writerows(rows)
    return write_atomic(path, text.getvalue())
