"""One progress bar for the whole package: ``TwoLayerNet.fit`` and ``neurust compare`` both use it.

It draws with rich when rich is installed, else with tqdm, else not at all: a
missing library never stops the work, it only hides the bar.
"""

from __future__ import annotations

import math
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any


class ProgressBar:
    """A running bar: :meth:`update` moves it to a count, :meth:`advance` by some steps."""

    def __init__(self, update: Any, advance: Any) -> None:
        self._update = update
        self._advance = advance

    def update(self, completed: int, loss: float | None = None) -> None:
        """Show ``completed`` steps done (and the latest ``loss``, for a bar that shows it)."""
        self._update(completed, loss)

    def advance(self, description: str, steps: int = 1) -> None:
        """Move ``steps`` forward and show ``description`` as what is being done now."""
        self._advance(description, steps)


@contextmanager
def progress_bar(
    total: int,
    description: str,
    *,
    show_loss: bool = False,
    transient: bool = False,
    stderr: bool = False,
) -> Iterator[ProgressBar | None]:
    """A bar over ``total`` steps, or None where neither rich nor tqdm is installed.

    ``show_loss`` adds the last loss; ``transient`` clears the bar when done;
    ``stderr`` draws it on standard error so that piped standard output stays clean.
    """
    try:
        from rich.console import Console
        from rich.progress import (
            BarColumn,
            MofNCompleteColumn,
            Progress,
            TextColumn,
            TimeElapsedColumn,
            TimeRemainingColumn,
        )
    except ImportError:
        pass
    else:
        columns: list[Any] = [TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn()]
        if show_loss:
            columns += [TextColumn("loss {task.fields[loss]:.6g}"), TimeRemainingColumn()]
        else:
            columns.append(TimeElapsedColumn())
        console = Console(stderr=True) if stderr else None
        with Progress(*columns, console=console, transient=transient) as progress:
            task = progress.add_task(description, total=total, loss=math.nan)

            def update(completed: int, loss: float | None) -> None:
                if loss is None:
                    progress.update(task, completed=completed)
                else:
                    progress.update(task, completed=completed, loss=loss)

            def advance(text: str, steps: int) -> None:
                progress.update(task, advance=steps, description=text)

            yield ProgressBar(update, advance)
        return
    try:
        from tqdm.auto import tqdm  # type: ignore[import-untyped]
    except ImportError:
        yield None
        return
    stream = sys.stderr if stderr else sys.stdout
    with tqdm(total=total, desc=description, file=stream, leave=not transient) as bar:

        def tqdm_update(completed: int, loss: float | None) -> None:
            bar.update(completed - bar.n)
            if loss is not None:
                bar.set_postfix(loss=f"{loss:.6g}", refresh=False)

        def tqdm_advance(text: str, steps: int) -> None:
            bar.set_description(text, refresh=False)
            bar.update(steps)

        yield ProgressBar(tqdm_update, tqdm_advance)
