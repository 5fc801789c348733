"""The fetch's download throughput against ``curl`` of the same file from the same local
server (a separate process on 127.0.0.1): medbench writes a ``.part``, hashes as it goes
(MD5 checked) and renames; curl only writes (and curl then ``md5sum`` does the same
work in two passes). Best of ``--repeat`` runs each.

python -m tests.perf.bench_fetch [--mb 200] [--repeat 3]
"""

from __future__ import annotations

import argparse
import hashlib
import multiprocessing
import os
import shutil
import subprocess
import tempfile
import time
from pathlib import Path

from benchmark.data.fetch import download


def _serve(data_path: str, port_queue) -> None:
    from tests.data.fetch._http import Files, serve

    files = Files(content={"/big.npz": Path(data_path).read_bytes()})
    with serve(files) as url:
        port_queue.put(url)
        while True:
            time.sleep(3600)


def _best(runs: int, action) -> float:
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        action()
        times.append(time.perf_counter() - start)
    return min(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--mb", type=int, default=200)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    folder = Path(tempfile.mkdtemp(prefix="bench-fetch-"))
    data = os.urandom(args.mb << 20)
    (folder / "big.npz").write_bytes(data)
    md5 = hashlib.md5(data).hexdigest()
    queue: multiprocessing.Queue = multiprocessing.Queue()
    server = multiprocessing.Process(target=_serve, args=(str(folder / "big.npz"), queue))
    server.start()
    try:
        url = queue.get(timeout=60) + "/big.npz"
        out = folder / "out"
        out.mkdir()

        def medbench(md5: str | None) -> None:
            (out / "m.npz").unlink(missing_ok=True)
            download(url, out / "m.npz", md5=md5, progress=False)

        def curl() -> None:
            subprocess.run(["curl", "-s", "-o", str(out / "c.npz"), url], check=True)

        def curl_md5() -> None:
            curl()
            subprocess.run(["md5sum", str(out / "c.npz")], check=True, capture_output=True)

        curl()  # warm the server and the page cache
        t_curl = _best(args.repeat, curl)
        t_curl_md5 = _best(args.repeat, curl_md5)
        t_checked = _best(args.repeat, lambda: medbench(md5))
        t_plain = _best(args.repeat, lambda: medbench(None))
        mb = args.mb
        print(f"file: {mb} MiB from 127.0.0.1 (best of {args.repeat})")
        print(f"curl:                    {mb / t_curl:8.1f} MiB/s")
        print(f"curl, then md5sum:       {mb / t_curl_md5:8.1f} MiB/s")
        print(f"medbench, MD5 checked:   {mb / t_checked:8.1f} MiB/s  "
              f"ratio to curl {t_curl / t_checked:.2f}, "
              f"to curl + md5sum {t_curl_md5 / t_checked:.2f}")  # fmt: skip
        print(f"medbench, no checksum:   {mb / t_plain:8.1f} MiB/s  "
              f"ratio to curl {t_curl / t_plain:.2f}")  # fmt: skip
    finally:
        server.terminate()
        server.join()
        shutil.rmtree(folder, ignore_errors=True)


if __name__ == "__main__":
    main()
