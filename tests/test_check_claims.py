"""reporting/check_claims.py: the reruns under other BLAS kernels really run under them."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from reporting import check_claims, make_report


def test_two_other_kernels_and_other_seeds_and_each_kernel_is_the_one_numpy_runs() -> None:
    own = check_claims.openblas_kernel(dict(os.environ))
    planned = check_claims.reruns(own)
    kernels = [run.kernel for run in planned if run.kernel]
    assert len(kernels) == 2 and own not in kernels and planned[-1].flags == ("--seed", "3")
    for run in planned[:2]:
        used = check_claims.openblas_kernel({**os.environ, **run.env})
        assert used.lower() == run.kernel.lower(), (run.name, used)
    assert [run.kernel for run in check_claims.reruns("Haswell")[:2]] == ["Sandybridge", "Nehalem"]


def test_a_kernel_that_is_no_change_is_refused_before_training(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A rerun under the machine's own kernel would check nothing new: it stops, naming it."""
    own = check_claims.openblas_kernel(dict(os.environ))
    monkeypatch.setattr(make_report, "run_tasks", lambda *args, **kwargs: pytest.fail("ran"))
    same = check_claims.Rerun("own kernel", {"OPENBLAS_CORETYPE": own})
    with pytest.raises(check_claims.CheckError, match="this machine's own kernel"):
        check_claims.rerun(same, tmp_path, jobs=1)
