"""D5: secret-looking env values are masked in plans, --json and journals; state files are mode 0600."""

from __future__ import annotations

import json
import stat

from opskit.container.config import ContainerConfig, compare, parse_set
from opskit.journal import Journal

SECRET_OLD = "old-hunter2-value"
SECRET_NEW = "new-hunter3-value"


def test_plan_differences_never_show_secret_values():
    cur = ContainerConfig(name="couchdb0", image="couchdb:3", env={"COUCHDB_PASSWORD": SECRET_OLD, "COUCHDB_USER": "admin"})
    changes = parse_set([f"env.COUCHDB_PASSWORD={SECRET_NEW}", "env.COUCHDB_USER=root"])
    want = changes.apply(cur)
    diffs = compare(cur, want)
    assert [d.key for d in diffs] == ["env"]
    shown = diffs[0].describe() + json.dumps([d.to_dict() for d in diffs])
    assert SECRET_OLD not in shown and SECRET_NEW not in shown
    assert "COUCHDB_PASSWORD" in shown and "changed" in shown  # the operator still sees that it changes
    assert "admin" in shown and "root" in shown                  # non-secret values stay readable


def test_an_unchanged_secret_is_not_a_difference_and_still_masked():
    cur = ContainerConfig(name="c", image="i", env={"DB_TOKEN": SECRET_OLD, "A": "1"})
    want = parse_set(["env.A=2"]).apply(cur)
    d = compare(cur, want)[0]
    assert SECRET_OLD not in d.describe() + json.dumps(d.to_dict())


def test_journal_masks_secrets_and_is_private(tmp_path):
    j = Journal(tmp_path / "journal" / "fleet" / "container.replace.jsonl")
    changes = parse_set([f"env.COUCHDB_PASSWORD={SECRET_NEW}", "env.PLAIN=visible"])
    j.note("couchdb0/plan", changes=changes.to_dict(), argv=[f"--env=AWS_SECRET_ACCESS_KEY={SECRET_OLD}"],
           more={"api_token": SECRET_OLD})
    text = j.path.read_text()
    assert SECRET_NEW not in text and SECRET_OLD not in text
    assert "visible" in text and "<secret>" in text
    assert stat.S_IMODE(j.path.stat().st_mode) == 0o600
    assert stat.S_IMODE(j.path.parent.stat().st_mode) & 0o077 == 0


def test_mask_rules():
    from opskit.secrets import MASK, is_secret_name, mask

    for name in ("COUCHDB_PASSWORD", "aws_secret_access_key", "GITHUB_TOKEN", "TSIG_KEY", "ORDERER_KAFKA_SASL_PASS"):
        assert is_secret_name(name), name
    assert not is_secret_name("CORE_PEER_ID")
    assert mask({"env": ["A=1", "X_PASSWORD=p"]}) == {"env": ["A=1", f"X_PASSWORD={MASK}"]}
