"""A real S3 API on loopback for the tests and the benchmark: moto's server on 127.0.0.1 (an ephemeral port), and
the tree of runs in every format (`remote_support.every_format_tree`) uploaded with boto3."""
from __future__ import annotations

import logging
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator

from remote_support import FIXTURES, ROOT, check_prefix_inside_a_run, check_ranged_reads, check_show, every_format_tree  # noqa: F401 - re-exported: the tests' one tree and checks

CREDENTIALS = {"AWS_ACCESS_KEY_ID": "losslint-test", "AWS_SECRET_ACCESS_KEY": "losslint-test",
               "AWS_DEFAULT_REGION": "us-east-1", "AWS_EC2_METADATA_DISABLED": "true"}


@contextmanager
def moto_server() -> Iterator[str]:
    """The endpoint URL of a moto S3 server on 127.0.0.1, stopped on exit."""
    from moto.server import ThreadedMotoServer

    logging.getLogger("werkzeug").setLevel(logging.ERROR)  # one line per request otherwise
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    try:
        host, port = server.get_host_and_port()
        yield f"http://{host}:{port}"
    finally:
        server.stop()


def forget_clients() -> None:
    """fsspec keeps one S3 file system per settings and process: a new endpoint or credentials need a new one."""
    import s3fs

    s3fs.S3FileSystem.clear_instance_cache()


def upload(client, bucket: str, tree: Path, prefix: str) -> int:
    """Every file below `tree` as `s3://bucket/prefix/<relative path>`; the number of objects."""
    count = 0
    for path in sorted(tree.rglob("*")):
        if path.is_file():
            client.upload_file(str(path), bucket, f"{prefix}/{path.relative_to(tree).as_posix()}")
            count += 1
    return count
