"""What sealing personal data at rest costs per value: AES-256-GCM seal and open of an order's address and of
a dialogue state's events (JSON in and out included), and the phone search hash.

    .venv/bin/python bench/sealing.py [--rounds 20000]
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import timeit
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from storage.sealing import Sealer, dump_json

ADDRESS = {"name": "张三", "phone": "13800138000", "province": "广东省", "city": "广州市", "district": "天河区",
           "detail": "体育西路 100 号 8 楼"}
EVENTS = [{"event": "user", "text": "我要改一下收货地址 张三 13812345678 广州市天河区体育西路1号",
           "parse_data": {"intent": {"name": "change_address", "confidence": 0.93}}}] * 12


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rounds", type=int, default=20000)
    rounds = parser.parse_args().rounds
    sealer = Sealer({"k1": os.urandom(32)}, current="k1", index_key=os.urandom(32))
    print("| value | plain bytes | stored bytes | seal µs | open µs |\n|---|---:|---:|---:|---:|")
    for name, document in (("order address", ADDRESS), ("dialogue events (12)", EVENTS)):
        stored = sealer.seal(dump_json(document), label="t.c")
        seal = timeit.timeit(lambda d=document: sealer.seal(dump_json(d), label="t.c"), number=rounds)
        opened = timeit.timeit(lambda s=stored: json.loads(sealer.open(s, label="t.c")), number=rounds)
        print(f"| {name} | {len(dump_json(document))} | {len(stored)} | {seal / rounds * 1e6:.1f} | "
              f"{opened / rounds * 1e6:.1f} |")
    index = timeit.timeit(lambda: sealer.blind_index("13800138000", purpose="phone"), number=rounds)
    print(f"| phone search hash (HMAC-SHA256) | 11 | 64 | {index / rounds * 1e6:.1f} | — |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
