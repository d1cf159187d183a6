"""The CPU distillation study's spec asks for what an identifiable distillation fit needs.

The oracles are the design requirements (Busbridge et al. 2025 fit their law on fixed-M teachers of
several strengths with students spanning sizes and D_S): spans of N_S and D_S, counts of
students and teachers, supervised twins at every student (N, D), repeated seeds, unique ids.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from scalelaw.errors import UserError
from scalelaw.sweep.spec import load_spec, parse_spec

SPEC = Path(__file__).resolve().parent.parent / "sweeps" / "cpu-distill-study.toml"


@pytest.fixture(scope="module")
def spec():
    return load_spec(SPEC)


def _role(spec, role):
    return [r for r in spec.runs if r.role == role]


def test_counts_and_unique_ids(spec):
    students, teachers = _role(spec, "student"), _role(spec, "teacher")
    assert len(students) >= 150
    assert len(teachers) >= 5
    ids = [r.run_id for r in spec.runs]
    assert len(ids) == len(set(ids))


def test_student_sizes_and_tokens_span_30x(spec):
    students = _role(spec, "student")
    N = np.array([r.N for r in students])
    D = np.array([r.D for r in students])
    assert N.max() / N.min() >= 30
    assert D.max() / D.min() >= 30


def test_teachers_include_fixed_size_strength_series_and_weak_teachers(spec):
    teachers = _role(spec, "teacher")
    sizes = [r.N for r in teachers]
    # at least three teachers of one size trained on different budgets (fixed-M teachers)
    assert max(sizes.count(n) for n in set(sizes)) >= 3
    largest_student = max(r.N for r in _role(spec, "student"))
    # some teachers are smaller than the largest student (weaker than the strongest students)
    assert min(sizes) < largest_student < max(sizes)
    # every student's teacher is a teacher run of the spec, and every teacher teaches
    tid = {r.run_id for r in teachers}
    taught = {r.teacher for r in _role(spec, "student")}
    assert taught == tid


def test_supervised_twins_at_every_student_size_and_budget(spec):
    sup = {(r.N, r.D) for r in _role(spec, "supervised")}
    assert {(r.N, r.D) for r in _role(spec, "student")} <= sup


def test_repeated_seeds_cover_a_subset(spec):
    students = _role(spec, "student")
    seeds = {r.config["seed"] for r in students}
    assert len(seeds) >= 3
    repeated = [r for r in students if r.config["seed"] != 0]
    assert 0 < len(repeated) < len(students)
    # each repeated student has a seed-0 twin with the same teacher, size and budget
    base = {(r.teacher, r.N, r.D) for r in students if r.config["seed"] == 0}
    assert all((r.teacher, r.N, r.D) in base for r in repeated)
    assert any(r.config["seed"] != 0 for r in _role(spec, "supervised"))


def test_runs_stay_offline_on_the_cpu(spec):
    for r in spec.runs:
        assert r.config["corpus"] == "synthetic"  # generated in-process: no download
        assert r.config["device"] == "cpu"


def test_group_seeds_pair_students_with_the_teachers_first_seed():
    doc = {
        "sweep": {"name": "t", "seeds": [0]},
        "train": {"block_size": 16, "batch_size": 4, "vocab_size": 64},
        "teachers": {"a": {"size": 1e5, "tokens": 1e6}},
        "students": [{"teachers": ["a"], "sizes": [1e4], "tokens": [1e5], "seeds": [0, 3]}],
    }
    s = parse_spec(doc)
    teacher = [r for r in s.runs if r.role == "teacher"]
    students = [r for r in s.runs if r.role == "student"]
    assert len(teacher) == 1 and sorted(r.config["seed"] for r in students) == [0, 3]
    assert all(r.teacher == teacher[0].run_id for r in students)
    # with sweep seeds [0, 1], a seed-1 student takes the seed-1 teacher
    doc2 = dict(doc, sweep={"name": "t", "seeds": [0, 1]},
                students=[{"teachers": ["a"], "sizes": [1e4], "tokens": [1e5]}])
    s2 = parse_spec(doc2)
    t_by_seed = {r.config["seed"]: r.run_id for r in s2.runs if r.role == "teacher"}
    assert {r.config["seed"]: r.teacher for r in s2.runs if r.role == "student"} == t_by_seed


def test_group_seeds_must_be_integers():
    doc = {"sweep": {"name": "t"}, "train": {"block_size": 16, "batch_size": 4, "vocab_size": 64},
           "supervised": [{"sizes": [1e4], "tokens": [1e5], "seeds": [0.5]}]}
    with pytest.raises(UserError, match="seeds"):
        parse_spec(doc)
