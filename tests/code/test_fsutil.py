"""The one staged swap every stage writes its output folders with (`gaitgrf.core.fsutil`)."""

from pathlib import Path

import pytest

from gaitgrf.core.fsutil import staged_dir, swap_in


def _tree(root: Path) -> dict[str, str]:
    return {p.relative_to(root).as_posix(): p.read_text() for p in root.rglob("*") if p.is_file()}


def _old_target(tmp_path: Path) -> Path:
    target = tmp_path / "out"
    (target / "sub").mkdir(parents=True)
    (target / "stale.txt").write_text("old")
    (target / "sub" / "kept.txt").write_text("old")
    return target


def test_old_target_is_replaced_whole(tmp_path: Path) -> None:
    target = _old_target(tmp_path)
    with staged_dir(target) as staging:
        assert staging == tmp_path / ".staging-out"
        assert list(staging.iterdir()) == []
        (staging / "new.txt").write_text("new")
    assert _tree(target) == {"new.txt": "new"}  # no stale file of the old copy survives
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out"]  # no staging, no .out.old


def test_failure_leaves_the_old_target_and_no_staging(tmp_path: Path) -> None:
    target = _old_target(tmp_path)
    before = _tree(target)
    with pytest.raises(RuntimeError, match="half-way"), staged_dir(target) as staging:
        (staging / "new.txt").write_text("new")
        raise RuntimeError("half-way")
    assert _tree(target) == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out"]


def test_leftovers_of_an_interrupted_run_are_cleared(tmp_path: Path) -> None:
    target = tmp_path / "out"
    leftover = tmp_path / ".out.staging"
    leftover.mkdir()
    (leftover / "half.txt").write_text("half")
    (tmp_path / ".out.old").mkdir()  # a crash between the two renames of an earlier swap
    with staged_dir(target, staging=leftover) as staging:
        assert list(staging.iterdir()) == []
        (staging / "new.txt").write_text("new")
    assert _tree(target) == {"new.txt": "new"}
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out"]


def test_without_replace_a_new_target_appears_and_an_existing_one_is_refused(
    tmp_path: Path,
) -> None:
    target = tmp_path / "cohort"
    with staged_dir(target, replace=False) as staging:
        (staging / "a.txt").write_text("a")
    assert _tree(target) == {"a.txt": "a"}
    with pytest.raises(OSError), staged_dir(target, replace=False) as staging:
        (staging / "b.txt").write_text("b")
    assert _tree(target) == {"a.txt": "a"}
    assert sorted(p.name for p in tmp_path.iterdir()) == ["cohort"]


def test_swap_in_without_an_old_target(tmp_path: Path) -> None:
    staging = tmp_path / "staged"
    staging.mkdir()
    (staging / "x.txt").write_text("x")
    swap_in(staging, tmp_path / "out")
    assert _tree(tmp_path / "out") == {"x.txt": "x"}
    assert not staging.exists()
