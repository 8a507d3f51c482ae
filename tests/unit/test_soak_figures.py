"""The soak's pure figures: longest gap, lines lost and duplicated, when the faults fall."""
from oam.benchmarks.soak_figures import Gap, counter_rate, fault_times, longest_gap, tally


def test_longest_gap_is_the_longest_run_of_empty_buckets() -> None:
    counts = [3, 0, 0, 5, 0, 0, 0, 2, 0]
    buckets = [(1_000_000 + 1000 * i, count) for i, count in enumerate(counts)]
    assert longest_gap(buckets) == Gap(3.0, 1004.0)


def test_no_empty_bucket_is_no_gap() -> None:
    assert longest_gap([(0, 1), (1000, 2)]) == Gap(0.0, None)
    assert longest_gap([]) == Gap(0.0, None)


def test_gap_scales_with_the_bucket_width() -> None:
    assert longest_gap([(0, 1), (5000, 0), (10000, 0), (15000, 4)], bucket_seconds=5).seconds == 10


def test_tally_counts_lost_duplicated_and_unexpected_lines() -> None:
    counted = tally(6, {0: 1, 1: 2, 3: 1, 4: 3, 5: 1, 9: 1})
    assert (counted.written, counted.stored, counted.distinct) == (6, 9, 6)
    assert counted.lost == 1 and counted.first_lost == [2]
    assert counted.duplicated == 3
    assert counted.unexpected == 1


def test_tally_of_a_clean_run() -> None:
    counted = tally(3, {0: 1, 1: 1, 2: 1})
    assert (counted.lost, counted.duplicated, counted.unexpected, counted.first_lost) == (0, 0, 0, [])


def test_faults_are_spread_evenly_and_interleaved() -> None:
    plan = fault_times(1800, {"es": 2, "collector": 3})
    assert [at for at, _ in plan] == [300, 600, 900, 1200, 1500]
    assert [kind for _, kind in plan] == ["collector", "es", "collector", "es", "collector"]


def test_no_faults_asked_is_an_empty_plan() -> None:
    assert fault_times(600, {"es": 0, "collector": 0}) == []
    assert fault_times(600, {"es": 1, "collector": 0}) == [(300, "es")]


def test_counter_rate_survives_a_restart_of_the_process() -> None:
    assert counter_rate([(0, 10.0), (10, 12.0), (20, 14.0)]) == 0.2
    assert counter_rate([(0, 10.0), (10, 12.0), (20, 1.0), (30, 3.0)]) == (2 + 1 + 2) / 30
    assert counter_rate([(0, 5.0)]) == 0.0


def test_spool_bytes_sum_the_files_below_and_a_missing_spool_is_empty(tmp_path) -> None:
    from bench.soak import directory_bytes

    (tmp_path / "worker-0").mkdir()
    (tmp_path / "worker-0" / "segment-1.ndjson").write_bytes(b"x" * 300)
    (tmp_path / "segment-2.ndjson").write_bytes(b"y" * 50)
    assert directory_bytes(tmp_path) == 350
    assert directory_bytes(tmp_path / "absent") == 0
