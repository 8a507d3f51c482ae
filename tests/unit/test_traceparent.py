"""GTX/LTX edge cases: whatever arrives on the wire, a valid GTX comes out and nothing raises."""
from __future__ import annotations

import asyncio
import re
import threading

import pytest

from telemetry.context import current_ids, format_traceparent, outgoing_headers, parse_traceparent, span, transaction

HEX32 = re.compile(r"^[0-9a-f]{32}$")
HEX16 = re.compile(r"^[0-9a-f]{16}$")
GOOD = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"


def test_a_valid_traceparent_is_continued_with_a_new_ltx():
    with transaction("GET /users/{id}", headers={"traceparent": GOOD}) as ids:
        assert ids.trace_id == "4bf92f3577b34da6a3ce929d0e0e4736"
        assert ids.parent_id == "00f067aa0ba902b7"
        assert HEX16.match(ids.transaction_id) and ids.transaction_id != ids.parent_id


def test_header_lookup_ignores_case():
    with transaction("job", headers={"TraceParent": GOOD}) as ids:
        assert ids.trace_id == "4bf92f3577b34da6a3ce929d0e0e4736"


@pytest.mark.parametrize("header", [
    None,
    "",
    "garbage",
    "00-00000000000000000000000000000000-00f067aa0ba902b7-01",   # all-zero trace id
    "00-4bf92f3577b34da6a3ce929d0e0e4736-0000000000000000-01",   # all-zero parent id
    "00-4BF92F3577B34DA6A3CE929D0E0E4736-00F067AA0BA902B7-01",   # upper case is invalid
    "ff-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",   # forbidden version
    "00-4bf92f3577b34da6a3ce929d0e0e473-00f067aa0ba902b7-01",    # short trace id
    "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01-x",  # version 00 takes no extra fields
    "00-zzf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",   # not hex
    "00_4bf92f3577b34da6a3ce929d0e0e4736_00f067aa0ba902b7_01",
    "\x00\xff" * 40,
    "0" * 10_000,
])
def test_a_malformed_or_all_zero_traceparent_starts_a_new_gtx(header):
    assert parse_traceparent(header) is None
    with transaction("GET /", headers={"traceparent": header} if header is not None else None) as ids:
        assert HEX32.match(ids.trace_id) and ids.trace_id != "0" * 32
        assert ids.parent_id is None


@pytest.mark.parametrize("value", [b"00-4bf9", 12345, ["x"]])
def test_a_traceparent_of_the_wrong_type_never_raises(value):
    assert parse_traceparent(value) is None  # type: ignore[arg-type]


def test_a_future_version_with_extra_fields_is_accepted():
    header = "01-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01-future"
    assert parse_traceparent(header) is not None


def test_each_new_gtx_is_different():
    seen = set()
    for _ in range(200):
        with transaction("x") as ids:
            seen.add(ids.trace_id)
    assert len(seen) == 200


def test_format_and_parse_round_trip():
    header = format_traceparent("4bf92f3577b34da6a3ce929d0e0e4736", "00f067aa0ba902b7", sampled=False)
    assert header == "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-00"
    parsed = parse_traceparent(header)
    assert format(parsed.trace_id, "032x") == "4bf92f3577b34da6a3ce929d0e0e4736"
    assert not parsed.trace_flags.sampled


def test_outgoing_headers_carry_the_gtx_and_the_current_span():
    assert outgoing_headers() == {}
    with transaction("GET /", headers={"traceparent": GOOD}) as ids:
        with span("http GET backend") as child:
            header = outgoing_headers()["traceparent"]
            assert header == f"00-{ids.trace_id}-{child.span_id}-01"
            assert child.transaction_id == ids.transaction_id and child.parent_id == ids.span_id
        # Back in the transaction, the current span is the transaction again.
        assert current_ids().span_id == ids.transaction_id


def test_ids_are_gone_after_the_transaction():
    with transaction("x"):
        assert current_ids() is not None
    assert current_ids() is None


def test_ltx_is_kept_apart_per_thread():
    seen: dict[str, tuple[str, str]] = {}
    barrier = threading.Barrier(4)

    def work(name: str) -> None:
        with transaction(name) as ids:
            barrier.wait()  # all four transactions are open at once
            now = current_ids()
            seen[name] = (ids.transaction_id, now.transaction_id)

    threads = [threading.Thread(target=work, args=(f"t{i}",)) for i in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert all(mine == current for mine, current in seen.values())
    assert len({mine for mine, _ in seen.values()}) == 4


def test_ltx_is_kept_apart_per_asyncio_task():
    async def handle(name: str) -> tuple[str, str]:
        with transaction(name) as ids:
            await asyncio.sleep(0.01)
            return ids.transaction_id, current_ids().transaction_id

    async def main() -> list[tuple[str, str]]:
        return await asyncio.gather(*(handle(f"r{i}") for i in range(5)))

    results = asyncio.run(main())
    assert all(mine == current for mine, current in results)
    assert len({mine for mine, _ in results}) == 5
