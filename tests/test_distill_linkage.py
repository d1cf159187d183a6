"""Teacher linkage of student run records (scalelaw.runs.resolve_teachers)."""

import io

import numpy as np
import pandas as pd
import pytest

from scalelaw.errors import ScalelawWarning, UserError
from scalelaw.runs import resolve_teachers, validate

GOOD = """run_id,role,N,D,loss,teacher_run_id,L_T
t1,teacher,1e9,2e10,2.3,,
s1,student,1e8,2e9,2.9,t1,
s2,student,1e8,4e9,2.8,,2.5
"""


def frame(text):
    return validate(pd.read_csv(io.StringIO(text)), "runs.csv")


def test_fills_teacher_loss_and_size():
    df = resolve_teachers(frame(GOOD), "runs.csv").set_index("run_id")
    assert df.loc["s1", "L_T"] == 2.3 and df.loc["s1", "N_T"] == 1e9 and df.loc["s1", "D_T"] == 2e10
    assert df.loc["s2", "L_T"] == 2.5 and np.isnan(df.loc["s2", "N_T"])


@pytest.mark.parametrize(
    "text,needles",
    [
        (GOOD.replace("s1,student,1e8,2e9,2.9,t1,", "s1,student,1e8,2e9,2.9,t9,"),
         ["line 3", "'s1'", "'t9'", "not a run_id"]),
        (GOOD.replace("t1,teacher,1e9,2e10,2.3,,", "t1,teacher,1e9,2e10,,,"),
         ["line 3", "'s1'", "'t1'", "line 2", "no usable loss"]),
        (GOOD.replace("s2,student,1e8,4e9,2.8,,2.5", "s2,student,1e8,4e9,2.8,,"),
         ["line 4", "'s2'", "neither"]),
        ("run_id,role,N,D,loss,teacher_run_id\na,student,1e8,2e9,2.9,b\nb,student,1e8,2e9,2.9,a\n",
         ["circular", "'a' -> 'b' -> 'a'", "lines 2, 3"]),
        ("run_id,role,N,D,loss,teacher_run_id\na,student,1e8,2e9,2.9,a\n", ["circular", "'a' -> 'a'"]),
    ],
)
def test_linkage_errors_name_file_line_and_ids(text, needles):
    with pytest.raises(UserError) as e:
        resolve_teachers(frame(text), "runs.csv")
    msg = str(e.value)
    assert "\n" not in msg and msg.startswith("runs.csv")
    for n in needles:
        assert n in msg, msg


def test_teacher_that_is_a_student_warns():
    text = GOOD + "s3,student,5e7,1e9,3.1,s1,\n"
    with pytest.warns(ScalelawWarning, match=r"'s3'.*'s1'.*itself a student"):
        df = resolve_teachers(frame(text), "runs.csv").set_index("run_id")
    assert df.loc["s3", "L_T"] == 2.9


def test_diverged_teacher_has_no_usable_loss():
    text = GOOD.replace("run_id,role,N,D,loss,teacher_run_id,L_T", "run_id,role,N,D,loss,teacher_run_id,L_T,status")
    text = text.replace("2.3,,\n", "2.3,,,diverged\n").replace("t1,\n", "t1,,ok\n").replace("2.5\n", "2.5,ok\n")
    with pytest.raises(UserError, match="status 'diverged'"):
        resolve_teachers(frame(text), "runs.csv")


def test_disagreeing_teacher_loss_warns():
    text = GOOD.replace("s1,student,1e8,2e9,2.9,t1,", "s1,student,1e8,2e9,2.9,t1,2.4")
    with pytest.warns(ScalelawWarning, match="using the student's L_T"):
        df = resolve_teachers(frame(text), "runs.csv").set_index("run_id")
    assert df.loc["s1", "L_T"] == 2.4
