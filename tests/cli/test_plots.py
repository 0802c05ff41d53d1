"""``neurust demo --plots DIR``: every figure a valid PNG of its stated size, written atomically."""

from __future__ import annotations

import contextlib
import io
import re
import stat
import struct
import sys
from pathlib import Path

import numpy as np
import pytest

import neurust as nr
from neurust import _plots
from neurust.cli import main

pytest.importorskip("matplotlib")

_PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
_STEPS = 50  # the demo's smallest training run: the figures need only its history


def png_size(path: Path) -> tuple[int, int]:
    """Width and height from a PNG's IHDR chunk, after checking the signature and the end."""
    data = path.read_bytes()
    assert data[:8] == _PNG_SIGNATURE, f"{path.name} is not a PNG"
    length, kind = struct.unpack(">I4s", data[8:16])
    assert (length, kind) == (13, b"IHDR"), f"{path.name} does not start with an IHDR chunk"
    width, height = struct.unpack(">II", data[16:24])
    assert data[-12:] == b"\x00\x00\x00\x00IEND\xaeB`\x82", f"{path.name} is cut short"
    return width, height


@pytest.fixture(scope="module")
def plots_run(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, str, int]:
    """One ``demo --plots`` run into a folder that does not exist yet: its folder, output, fits."""
    folder = tmp_path_factory.mktemp("plots") / "new" / "figures"
    fits = []
    original_fit = nr.TwoLayerNet.fit

    def counting_fit(self: nr.TwoLayerNet, *args: object, **kwargs: object) -> np.ndarray:
        fits.append(1)
        return original_fit(self, *args, **kwargs)  # type: ignore[arg-type]

    out = io.StringIO()
    with pytest.MonkeyPatch.context() as patch, contextlib.redirect_stdout(out):
        patch.setattr(nr.TwoLayerNet, "fit", counting_fit)
        status = main(["demo", "--no-progress", "--steps", str(_STEPS), "--plots", str(folder)])
    assert status == 0
    return folder, out.getvalue(), len(fits)


def test_plots_writes_every_figure_as_a_png_of_figsize_times_dpi(
    plots_run: tuple[Path, str, int],
) -> None:
    folder, _, _ = plots_run
    for name, (width, height) in _plots.FIGURES.items():
        expected = (round(width * _plots.DPI), round(height * _plots.DPI))
        assert png_size(folder / name) == expected, name


def test_plots_figures_are_the_tutorials_pictures(plots_run: tuple[Path, str, int]) -> None:
    folder, _, _ = plots_run
    assert sorted(path.name for path in folder.iterdir()) == sorted(
        [
            "activations.png",
            "toes-model.png",
            "neuron.png",
            "network.png",
            "loss.png",
            "perceptron.png",
        ]
    )
    assert png_size(folder / "activations.png") == (1000, 360)


def test_plots_prints_each_path_and_leaves_no_temporary_file(
    plots_run: tuple[Path, str, int],
) -> None:
    folder, output, _ = plots_run
    for name in _plots.FIGURES:
        assert f"wrote {folder / name}\n" in output
    assert not [path for path in folder.iterdir() if path.name.startswith(".")]


def test_plots_files_get_the_umask_mode_like_any_new_file(
    plots_run: tuple[Path, str, int], tmp_path: Path
) -> None:
    folder, _, _ = plots_run
    plain = tmp_path / "plain"
    plain.write_bytes(b"")
    for name in _plots.FIGURES:
        assert stat.S_IMODE((folder / name).stat().st_mode) == stat.S_IMODE(plain.stat().st_mode)


def test_plots_reuse_the_demo_training_instead_of_training_again(
    plots_run: tuple[Path, str, int],
) -> None:
    _, output, fits = plots_run
    assert fits == 1
    assert "6. Pictures" in output


def test_plots_into_an_unwritable_folder_fails_at_once_naming_it(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    blocker = tmp_path / "a-file"
    blocker.write_text("not a folder")
    folder = blocker / "figures"
    assert main(["demo", "--no-progress", "--steps", str(_STEPS), "--plots", str(folder)]) == 2
    captured = capsys.readouterr()
    assert captured.out == ""  # nothing trained before the error
    lines = captured.err.splitlines()
    assert len(lines) == 1
    assert lines[0].startswith(f"neurust demo: cannot create the folder {str(folder)!r}: ")


def test_plots_without_matplotlib_says_how_to_install_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setitem(sys.modules, "matplotlib", None)
    assert main(["demo", "--no-progress", "--plots", str(tmp_path)]) == 2
    assert capsys.readouterr().err == (
        "neurust demo: --plots needs matplotlib: pip install 'neurust[plots]'\n"
    )


def test_a_failed_save_keeps_the_previous_file_and_no_temporary(tmp_path: Path) -> None:
    target = tmp_path / "loss.png"
    target.write_bytes(b"previous")
    figure = _plots._figure("loss.png")

    def broken_savefig(*args: object, **kwargs: object) -> None:
        raise OSError(28, "No space left on device")

    figure.savefig = broken_savefig  # type: ignore[method-assign]
    message = f"cannot write {str(target)!r}: No space left on device"
    with pytest.raises(_plots.PlotFolderError, match=re.escape(message)):
        _plots._save(figure, tmp_path, "loss.png")
    assert target.read_bytes() == b"previous"
    assert [path.name for path in tmp_path.iterdir()] == ["loss.png"]
