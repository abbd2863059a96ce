"""Masking secrets in error text: whole occurrences only, one mask length for every secret."""

from __future__ import annotations

import pytest

from apps.common.masking import MASK, mask_secrets
from apps.engines.base import ConnectionInfo


def test_a_one_letter_password_is_not_masked_inside_other_words():
    text = "FATAL: password authentication failed: the token expired"
    assert mask_secrets(text, ["x"]) == text
    assert mask_secrets(text, ["e"]) == text


def test_a_short_password_quoted_as_a_token_is_masked():
    text = "connect failed: password=x user='x' url=postgres://bob:x@db:5432/x"
    masked = mask_secrets(text, ["x"])
    assert masked == f"connect failed: password={MASK} user='{MASK}' url=postgres://bob:{MASK}@db:5432/{MASK}"


@pytest.mark.parametrize("secret", ["x", "pw", "correct-horse-battery-staple-0123456789", "p@ss w0rd!"])
def test_the_mask_has_the_same_length_whatever_the_secret(secret):
    masked = mask_secrets(f"login with {secret} refused", [secret])
    assert masked == f"login with {MASK} refused"
    assert secret not in masked


def test_a_long_secret_is_masked_everywhere_it_appears_whole():
    secret = "S3cr3t-Value_With.Symbols$"
    text = f"a={secret}\n'{secret}' and ({secret})"
    masked = mask_secrets(text, [secret])
    assert secret not in masked and masked.count(MASK) == 3


def test_a_secret_containing_another_is_masked_whole():
    assert mask_secrets("pw hunter2pw", ["pw", "hunter2pw"]) == f"{MASK} {MASK}"


def test_regex_characters_in_a_secret_are_literal():
    assert mask_secrets("a.b axb", ["a.b"]) == f"{MASK} axb"


def test_engines_mask_through_the_same_rule():
    conn = ConnectionInfo(engine="postgresql", password="x")
    assert conn.mask("the session expired for x") == f"the session expired for {MASK}"
