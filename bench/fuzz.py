"""A long fuzz run of every capture adapter: `python -m bench.fuzz [--seconds 300] [--batch 500] [--proxy S]`.

Drives the CI strategies (`tests/sidecar/capture/hostile.py`) with many more examples, adapter by adapter
in rounds until the time is up, and prints examples per second, the mix of mutations and every failure
(hypothesis shrinks it first). `--proxy S` then sends hostile exchanges through a real proxy for S more
seconds (exact bytes back, every request recorded, no capture failure). Exit status 1 when anything failed.
Not part of CI: `make fuzz`.
"""

from __future__ import annotations

import argparse
import collections
import tempfile
import time
import traceback
from pathlib import Path

from hypothesis import given, settings
from hypothesis import strategies as st

from sidecar.capture.registry import REGISTRY
from tests.sidecar.capture.hostile import Hostile, adapter_inputs, check_adapter, hostile
from tests.sidecar.hostile_proxy import assert_all_recorded, running_harness, send_and_compare


def run_batch(adapter: str, examples: int, tally: collections.Counter[str]) -> tuple[int, str | None]:
    """Run up to `examples` hostile examples against one adapter; (examples run, failure or None)."""
    count = 0

    @settings(settings.get_profile("fuzz"), max_examples=examples, database=None)
    @given(data=st.data())
    def fuzz(data: st.DataObject) -> None:
        nonlocal count
        count += 1
        case, options = data.draw(adapter_inputs(adapter))
        for part in case.mutation.split(", "):
            kind = part.split(" (")[0].removeprefix("request ").removeprefix("response ")
            tally["swapped response" if kind.startswith("of ") else kind] += 1
        check_adapter(adapter, case, options)

    try:
        fuzz()
    except Exception:  # any failure is the finding: report it and go on with the next batch
        return count, traceback.format_exc(limit=-6)
    return count, None


def fuzz_proxy(seconds: float, batch: int) -> tuple[int, list[str]]:
    """Hostile exchanges through a real proxy for `seconds`; (exchanges sent, failures)."""
    failures: list[str] = []
    with tempfile.TemporaryDirectory(prefix="driftcar-fuzz-") as tmp, running_harness(Path(tmp)) as harness:

        @settings(settings.get_profile("fuzz"), max_examples=batch, database=None)
        @given(case=hostile())
        def fuzz(case: Hostile) -> None:
            send_and_compare(harness, case, f"fuzz-{len(harness.sent)}")

        start = time.perf_counter()
        while time.perf_counter() - start < seconds:
            try:
                fuzz()
            except Exception:  # the finding: report it, go on
                failures.append(traceback.format_exc(limit=-6))
                print(f"FAILURE through the proxy:\n{failures[-1]}", flush=True)
            print(f"proxy: {len(harness.sent)} exchanges in {time.perf_counter() - start:.0f} s", flush=True)
        try:
            assert_all_recorded(harness, timeout=600.0)
        except AssertionError:
            failures.append(traceback.format_exc(limit=-3))
            print(f"FAILURE in the records:\n{failures[-1]}", flush=True)
        return len(harness.sent), failures


def main() -> None:
    """Fuzz until `--seconds` have passed; print the rates and the failures."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=300.0, help="total time to fuzz (default 300)")
    parser.add_argument("--batch", type=int, default=500, help="examples per adapter per round (default 500)")
    parser.add_argument("--proxy", type=float, default=0.0, help="then this many seconds through the proxy")
    args = parser.parse_args()
    adapters = REGISTRY.names()
    done: collections.Counter[str] = collections.Counter()
    spent: dict[str, float] = dict.fromkeys(adapters, 0.0)
    tally: collections.Counter[str] = collections.Counter()
    failures: list[tuple[str, str]] = []
    start = time.perf_counter()
    rounds = 0
    while time.perf_counter() - start < args.seconds:
        rounds += 1
        for adapter in adapters:
            if time.perf_counter() - start >= args.seconds:
                break
            began = time.perf_counter()
            count, failure = run_batch(adapter, args.batch, tally)
            spent[adapter] += time.perf_counter() - began
            done[adapter] += count
            if failure is not None:
                failures.append((adapter, failure))
                print(f"FAILURE in {adapter}:\n{failure}", flush=True)
        total = sum(done.values())
        print(f"round {rounds}: {total} examples in {time.perf_counter() - start:.0f} s", flush=True)
    elapsed = time.perf_counter() - start
    print(f"\n{'adapter':<12} {'examples':>9} {'per s':>7}")
    for adapter in adapters:
        rate = done[adapter] / spent[adapter] if spent[adapter] else 0.0
        print(f"{adapter:<12} {done[adapter]:>9} {rate:>7.0f}")
    total = sum(done.values())
    print(f"{'all':<12} {total:>9} {total / elapsed:>7.0f}   ({elapsed:.0f} s, {rounds} rounds)")
    print("mutations: " + ", ".join(f"{name} {n}" for name, n in tally.most_common()))
    failed = len(failures)
    if args.proxy > 0:
        began = time.perf_counter()
        sent, proxy_failures = fuzz_proxy(args.proxy, 200)
        failed += len(proxy_failures)
        rate = sent / (time.perf_counter() - began)
        print(f"proxy: {sent} exchanges, {rate:.0f}/s, {len(proxy_failures)} failures")
    print(f"failures: {failed}")
    raise SystemExit(1 if failed else 0)


if __name__ == "__main__":
    main()
