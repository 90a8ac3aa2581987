"""The peer client of the bulk benchmark: Python fast_bitrix24 on the same workloads.

Run by `cargo bench --bench bulk -- writes|peer` (install the peer first:
`pip install fast_bitrix24==1.8.14`). Usage: `fast_bitrix24_peer.py writes|export`, with the
sandbox portal described by the JSON in B24_BENCH_INFO (its address, an OAuth access token and
a bot id), B24_BENCH_N messages or deals, and SSL_CERT_FILE naming the portal's certificate.
Prints one JSON line: wall and CPU seconds, peak RSS in MiB, rows read (export), and the
exception's text if the client raised.
"""

import asyncio
import json
import os
import resource
import sys
import time

from fast_bitrix24 import BitrixAsync

FIVE_FIELDS = ["ID", "TITLE", "STAGE_ID", "OPPORTUNITY", "CURRENCY_ID"]


async def main(mode: str) -> dict:
    info = json.loads(os.environ["B24_BENCH_INFO"])
    n = int(os.environ.get("B24_BENCH_N", "2000"))

    async def token():
        return info["access"]

    # OAuth: the portal's REST address, the token added to every call.
    bitrix = BitrixAsync(info["portal"] + "rest/", token_func=token, verbose=False)
    report = {}
    started = time.perf_counter()
    try:
        if mode == "writes":
            items = [
                {"BOT_ID": info["bot"], "DIALOG_ID": "1", "MESSAGE": f"py {i}"}
                for i in range(n)
            ]
            await bitrix.call("imbot.message.add", items)
        else:
            rows = await bitrix.get_all("crm.deal.list", {"select": FIVE_FIELDS})
            report["rows"] = len(rows)
    except Exception as e:  # the row shows what the client said
        report["error"] = f"{type(e).__name__}: {e}"[:200]
    report["wall"] = time.perf_counter() - started
    return report


if __name__ == "__main__":
    cpu_before = time.process_time()
    result = asyncio.run(main(sys.argv[1]))
    result["cpu"] = time.process_time() - cpu_before
    result["rss_mib"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(json.dumps(result))
