"""`make doctor`: one line per problem, each saying what to fix; exit status 1 when something is wrong."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest
from sqlalchemy import create_engine, text

from harness.database import ROOT, migrate
from local import doctor
from local.stack import sqlite_url
from tests.support.dev_stack import stack_environment

GOOD_LOCAL = {
    "FIREBASE_PROJECT_ID": "demo-billing",
    "FIREBASE_AUTH_EMULATOR_HOST": "127.0.0.1:9099",
    "STRIPE_SECRET_KEY": "sk_test_51Habcdefghijklmnop",
    "STRIPE_WEBHOOK_SECRET": "whsec_abcdefghijklmnopqrstuvwxyz",
    "STRIPE_MODE": "test",
    "PORTAL_URL": "http://localhost:3000",
    "RECONCILE_AFTER_MINUTES": "30",
    "RECONCILE_BATCH_SIZE": "100",
    "STRIPE_EVENT_RETENTION_DAYS": "90",
    "EMAIL_FROM_ADDRESS": "billing@portal.localhost",
    "EMAIL_CAPTURE_DIR": ".local/emails",
    "NOTIFICATION_MAX_ATTEMPTS": "6",
    "NOTIFICATION_BATCH_SIZE": "50",
}
GOOD_AWS = {**GOOD_LOCAL, "FIREBASE_PROJECT_ID": "client-portal-prod", "PORTAL_URL": "https://portal.example.com",
            "STRIPE_SECRET_KEY": "sk_live_51Habcdefghijklmnop", "STRIPE_MODE": "live",
            "EMAIL_FROM_ADDRESS": "billing@client-portal.io"}
del GOOD_AWS["FIREBASE_AUTH_EMULATOR_HOST"]
del GOOD_AWS["EMAIL_CAPTURE_DIR"]


def problems(environ: dict[str, str], target: str = "local", **kwargs) -> list[str]:
    return [f.text for f in doctor.check(environ, target=target, **kwargs) if not f.ok]


def test_a_good_local_configuration_has_no_problem(database_url) -> None:
    assert problems({**GOOD_LOCAL, "DATABASE_URL": database_url}) == []


def test_a_good_aws_configuration_has_no_problem(database_url) -> None:
    assert problems({**GOOD_AWS, "DATABASE_URL": database_url}, "aws") == []


def test_every_missing_setting_is_named() -> None:
    found = problems({}, check_database=False)
    text = "\n".join(found)
    for name in ("DATABASE_URL", "FIREBASE_PROJECT_ID", "STRIPE_SECRET_KEY", "STRIPE_WEBHOOK_SECRET", "PORTAL_URL"):
        assert name in text
    assert all("is not set (README, Configuration)" in line for line in found)


@pytest.mark.parametrize(("changes", "expected"), [
    ({"STRIPE_SECRET_KEY": "pk_test_51Habcdefghijk"}, "publishable key"),
    ({"STRIPE_SECRET_KEY": "whsec_abcdefghijklmnop"}, "look swapped"),
    ({"STRIPE_SECRET_KEY": "sk_test_abc"}, "STRIPE_SECRET_KEY starts like a Stripe key (sk_test_...) but is cut "
                                           "short"),
    ({"STRIPE_SECRET_KEY": "sk_test_"}, "starts like a Stripe key (sk_test_...) but is cut short"),
    ({"STRIPE_SECRET_KEY": "stripe-key-1234567890"}, "not a Stripe secret key (it starts with sk_test_ or sk_live_)"),
    ({"STRIPE_WEBHOOK_SECRET": "abcdefghijklmnop"}, "not a webhook signing secret"),
    ({"STRIPE_WEBHOOK_SECRET": "whsec_live_abcdefghijk"}, "different modes (STRIPE_SECRET_KEY is test, "
                                                          "STRIPE_WEBHOOK_SECRET is live)"),
    ({"STRIPE_PUBLISHABLE_KEY": "pk_live_51Habcdefghijk"}, "different modes"),
    ({"STRIPE_WEBHOOK_SECRET": "whsec_abcdefghijklmnop,whsec_"}, "not a webhook signing secret"),
    ({"PORTAL_URL": "portal.example.com"}, "is not an absolute URL"),
    ({"PORTAL_URL": "http://portal.example.com"}, "must be https"),
    ({"PORTAL_URL": "https://portal.example.com/app?x=1"}, "origin only"),
    ({"PORTAL_URL": "https://portal.example.com@evil.example"}, "user info"),
    ({"FIREBASE_PROJECT_ID": "client-portal-prod"}, "allowed only for an emulator-only demo- project"),
    ({"STRIPE_LOG": "debug"}, "STRIPE_LOG"),
])
def test_each_problem_is_one_line_saying_what_to_fix(changes, expected) -> None:
    found = problems({**GOOD_LOCAL, "DATABASE_URL": "sqlite:///unused", **changes}, check_database=False)

    assert len(found) == 1, found
    assert expected in found[0]


def test_a_live_key_with_local_switches_is_refused_in_the_words_the_functions_use() -> None:
    (found,) = problems({**GOOD_LOCAL, "DATABASE_URL": "sqlite:///unused", "STRIPE_SECRET_KEY": "sk_live_51Habcdefgh",
                         "STRIPE_MODE": "live", "STRIPE_WEBHOOK_SECRET": "whsec_abcdefghijklmnopqrstuvwxyz"},
                        check_database=False)
    assert "live Stripe key together with local-only settings (FIREBASE_AUTH_EMULATOR_HOST" in found


TEST_KEYS = {"STRIPE_SECRET_KEY": "sk_test_51Habcdefghijklmnop", "STRIPE_WEBHOOK_SECRET": "whsec_test_abcdefghijk",
             "STRIPE_MODE": "test"}


@pytest.mark.parametrize(("changes", "expected"), [
    ({**TEST_KEYS, "STRIPE_API_BASE": "http://127.0.0.1:12111"}, "STRIPE_API_BASE is for local runs only"),
    ({**TEST_KEYS, "PORTAL_URL": "http://localhost:3000"}, "an http PORTAL_URL is for local runs only"),
    ({"DATABASE_URL": "sqlite:////tmp/billing.sqlite3"}, "exists only on this machine"),
    ({**TEST_KEYS, "AWS_SAM_LOCAL": "true"}, "AWS_SAM_LOCAL is for local runs only"),
])
def test_local_only_settings_are_problems_for_aws(changes, expected) -> None:
    found = problems({**GOOD_AWS, "DATABASE_URL": "postgresql+pg8000://u@db:5432/x", **changes}, "aws",
                     check_database=False)

    assert len(found) == 1, found
    assert expected in found[0]


def test_a_demo_project_with_the_emulator_is_a_problem_for_aws_only() -> None:
    emulator = {"FIREBASE_PROJECT_ID": "demo-billing", "FIREBASE_AUTH_EMULATOR_HOST": "127.0.0.1:9099"}
    environ = {**GOOD_AWS, "STRIPE_SECRET_KEY": "sk_test_51Habcdefghijklmnop", "STRIPE_MODE": "test",
               "DATABASE_URL": "postgresql://db/x", **emulator}
    assert problems(environ, "local", check_database=False) == []
    assert sorted(problems(environ, "aws", check_database=False)) == [
        "FIREBASE_AUTH_EMULATOR_HOST is for local runs only: remove it from a configuration for AWS",
        "a demo- FIREBASE_PROJECT_ID is for local runs only: remove it from a configuration for AWS",
    ]


def test_a_database_behind_head_is_told_to_migrate(tmp_path) -> None:
    url = sqlite_url(tmp_path)
    migrate(url)
    engine = create_engine(url)
    with engine.begin() as conn:
        conn.execute(text("UPDATE alembic_version SET version_num = '0001'"))
    engine.dispose()

    (found,) = problems({**GOOD_LOCAL, "DATABASE_URL": url})

    assert "at revision 0001" in found and "alembic upgrade head" in found


def test_an_unreachable_database_is_a_problem_and_its_password_is_not_shown() -> None:
    url = "postgresql+pg8000://billing:hunter2-password@127.0.0.1:1/billing"

    (found,) = problems({**GOOD_LOCAL, "DATABASE_URL": url})

    assert "not reachable" in found
    assert "hunter2-password" not in found


def test_a_missing_sqlite_file_is_not_created(tmp_path) -> None:
    url = sqlite_url(tmp_path)

    (found,) = problems({**GOOD_LOCAL, "DATABASE_URL": url})

    assert "does not exist" in found and "make dev" in found
    assert not (tmp_path / "billing.sqlite3").exists()


def test_the_command_exits_1_on_problems_and_never_prints_a_secret(tmp_path, capsys) -> None:
    env_file = tmp_path / "prod.env"
    env_file.write_text("# production\nexport STRIPE_SECRET_KEY='sk_live_51Hsupersecretvalue'\n"
                        "STRIPE_WEBHOOK_SECRET=whsec_test_supersecretvalue\nPORTAL_URL=https://portal.example.com\n"
                        "STRIPE_MODE=live\n")

    assert doctor.main(["--env-file", str(env_file), "--target", "aws", "--no-database"]) == 1

    out = capsys.readouterr().out
    assert "PROBLEM" in out and "different modes" in out
    assert "supersecretvalue" not in out


def test_the_command_exits_0_when_all_is_good(tmp_path, database_url, capsys) -> None:
    env_file = tmp_path / "env.json"  # sam local's env-vars format
    env_file.write_text(json.dumps({"Parameters": {**GOOD_LOCAL, "DATABASE_URL": database_url}}))

    assert doctor.main(["--env-file", str(env_file)]) == 0
    assert "doctor: all good" in capsys.readouterr().out


def test_without_a_running_stack_plain_doctor_checks_the_environment_and_says_so(tmp_path) -> None:
    env = {**stack_environment(tmp_path), **GOOD_LOCAL, "DATABASE_URL": "sqlite:///unused"}

    result = subprocess.run([sys.executable, "-m", "local.doctor", "--no-database"], cwd=ROOT, env=env,
                            capture_output=True, text=True, timeout=60)

    assert result.returncode == 0, result.stdout + result.stderr
    assert "checking the environment (no local stack is running: with one, `make doctor` checks it)" in result.stdout


def test_doctor_stack_without_a_running_stack_says_how_to_start_one(tmp_path) -> None:
    result = subprocess.run([sys.executable, "-m", "local.doctor", "--stack"], cwd=ROOT,
                            env=stack_environment(tmp_path), capture_output=True, text=True, timeout=60)

    assert result.returncode == 2
    assert "start it with `make dev`" in result.stderr
