"""The PNG chart is drawn from a record (matplotlib, Agg backend)."""

from ansible_collections.tokenlabs.inference.plugins.module_utils._jobs import benchmark_chart as chart


def test_chart_is_a_png_with_a_line_per_model_and_shape(tmp_path):
    levels = [{"prompt_tokens": 512, "output_tokens": 128, "concurrency": c, "decode_tokens_per_s": 100.0 * c,
               "ttft_ms": {"p50": 50.0 * c}, "itl_ms": {"p50": 20.0}} for c in (1, 2, 4)]
    record = {"run_id": "r", "models": [{"name": "a", "levels": levels}, {"name": "b", "levels": levels[:1]}]}
    assert [label for label, _levels in chart._series(record)] == ["a (in 512 / out 128)", "b (in 512 / out 128)"]
    path = tmp_path / "chart.png"
    chart.draw(record, str(path))
    assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and path.stat().st_size > 10000


def test_chart_of_a_run_without_figures_is_still_drawn(tmp_path):
    path = tmp_path / "empty.png"
    chart.draw({"run_id": "r", "models": [{"name": "a", "levels": [{"prompt_tokens": 1, "output_tokens": 1,
                                                                    "concurrency": 1, "failed_requests": 1}]}]},
               str(path))
    assert path.read_bytes()[:4] == b"\x89PNG"
