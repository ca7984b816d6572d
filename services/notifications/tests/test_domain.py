"""The notification rules without I/O: signatures by the Standard Webhooks specification, which
targets webhooks may reach, watchlists, retries and disabling."""

from __future__ import annotations

import datetime as dt
import ipaddress
import random

import pytest
from standardwebhooks.webhooks import Webhook, WebhookVerificationError

from conformity_devstack.factories import new_uscc
from conformity_shared.errors import DomainError

from notifications.domain import signing, targets, watchlists
from notifications.domain.delivery import DisablePolicy, Outcome, RetryPolicy
from notifications.domain.watchlists import WatchKind

T0 = dt.datetime(2026, 11, 26, 8, 0, tzinfo=dt.UTC)


# --- signing ---------------------------------------------------------------------------------------


def test_signature_matches_the_specifications_published_example() -> None:
    # The example of the Standard Webhooks specification (and of its reference libraries' tests).
    secret = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
    at = dt.datetime.fromtimestamp(1614265330, dt.UTC)
    header = signing.signature_header([secret], "msg_p5jXN8AQM9LWM0D4loKWxJek", at, '{"test": 2432232314}')
    assert header == "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE="


def test_headers_verify_with_the_endpoints_secret() -> None:
    secret = signing.new_secret()
    now = dt.datetime.now(dt.UTC)
    headers = signing.headers([secret], "msg_1", now, '{"a":1}')
    assert secret.startswith("whsec_")
    assert Webhook(secret).verify('{"a":1}', headers) == {"a": 1}
    with pytest.raises(WebhookVerificationError):
        Webhook(signing.new_secret()).verify('{"a":1}', headers)
    with pytest.raises(WebhookVerificationError):
        Webhook(secret).verify('{"a":2}', headers)


def test_during_a_rotations_overlap_both_secrets_sign() -> None:
    old, new = signing.new_secret(), signing.new_secret()
    in_use = signing.secrets_in_use(new, old, T0 + dt.timedelta(hours=1), T0)
    assert in_use == [new, old]
    now = dt.datetime.now(dt.UTC)
    headers = signing.headers(in_use, "msg_2", now, "{}")
    assert len(headers["webhook-signature"].split(" ")) == 2
    Webhook(old).verify("{}", headers)
    Webhook(new).verify("{}", headers)


def test_after_the_overlap_only_the_new_secret_signs() -> None:
    old, new = signing.new_secret(), signing.new_secret()
    assert signing.secrets_in_use(new, old, T0, T0) == [new]
    assert signing.secrets_in_use(new, None, None, T0) == [new]


# --- targets (no SSRF) ---------------------------------------------------------------------------------


def rule_of(url: str, development: bool = False) -> str:
    with pytest.raises(targets.TargetRefused) as refused:
        targets.check_url(url, development=development)
    return refused.value.rule


def test_https_to_a_public_name_or_address_is_accepted() -> None:
    assert targets.check_url("https://hooks.shop.example.com/conformity", development=False)
    assert targets.check_url("https://93.184.215.14:8443/hook", development=False)


@pytest.mark.parametrize(("url", "rule"), [
    ("http://hooks.shop.example.com/", "https_required"),
    ("ftp://hooks.shop.example.com/", "https_required"),
    ("https://127.0.0.1/", "loopback_address"),
    ("https://localhost/", "loopback_address"),
    ("https://[::1]/", "loopback_address"),
    ("https://10.1.2.3/", "private_address"),
    ("https://192.168.0.10/", "private_address"),
    ("https://172.16.5.4/", "private_address"),
    ("https://169.254.169.254/latest/meta-data", "link_local_address"),
    ("https://[fe80::1]/", "link_local_address"),
    ("https://[::ffff:10.0.0.1]/", "private_address"),
    ("https://0.0.0.0/", "unspecified_address"),
    ("https://224.0.0.1/", "multicast_address"),
    ("https://user:pw@hooks.shop.example.com/", "credentials_in_url"),
    ("https://printer.local/", "local_name"),
    ("not a url", "https_required"),
])
def test_targets_inside_the_network_are_refused_in_production(url: str, rule: str) -> None:
    assert rule_of(url) == rule


def test_plain_http_only_to_loopback_and_only_in_development() -> None:
    assert targets.check_url("http://127.0.0.1:8900/hook", development=True)
    assert targets.check_url("http://localhost:8900/hook", development=True)
    assert rule_of("http://hooks.shop.example.com/", development=True) == "http_only_to_loopback_in_development"
    assert rule_of("http://10.0.0.1/", development=True) == "http_only_to_loopback_in_development"
    assert rule_of("http://127.0.0.1:8900/hook") == "https_required"


def test_resolved_addresses_are_checked_like_written_ones() -> None:
    for address, rule in [("10.0.0.7", "private_address"), ("127.0.0.1", "loopback_address"),
                          ("169.254.10.1", "link_local_address"), ("::ffff:192.168.1.1", "private_address")]:
        assert targets.address_refusal(ipaddress.ip_address(address), development=False) == rule
    assert targets.address_refusal(ipaddress.ip_address("127.0.0.1"), development=True) is None
    assert targets.address_refusal(ipaddress.ip_address("10.0.0.7"), development=True) == "private_address"
    assert targets.address_refusal(ipaddress.ip_address("93.184.215.14"), development=False) is None


# --- watchlists ----------------------------------------------------------------------------------------


def test_watched_values_are_normalised_and_deduplicated() -> None:
    assert watchlists.normalised(WatchKind.CERTIFICATE, [" msc20260y4300000042 ", "MSC20260Y4300000042"]) == [
        "MSC20260Y4300000042"]
    holder = new_uscc()
    assert watchlists.normalised(WatchKind.HOLDER, [holder.lower()]) == [holder]
    assert watchlists.normalised(WatchKind.SCHEME, ["CCC"]) == ["CCC"]


def test_a_bad_value_is_refused_naming_its_position_and_rule() -> None:
    holder = new_uscc()
    broken = holder[:-1] + ("0" if holder[-1] != "0" else "1")
    with pytest.raises(DomainError) as refused:
        watchlists.normalised(WatchKind.HOLDER, [holder, broken])
    assert refused.value.field == "values[1]"
    assert refused.value.rules[0]["rule"] == "invalid_uscc"
    with pytest.raises(DomainError) as refused:
        watchlists.normalised(WatchKind.CERTIFICATE, ["MSC-2026"])
    assert (refused.value.field, refused.value.rules[0]["rule"]) == ("values[0]", "invalid_certificate_number")
    with pytest.raises(DomainError) as refused:
        watchlists.normalised(WatchKind.SCHEME, ["organic"])
    assert refused.value.rules[0]["rule"] == "unknown_scheme"


def test_a_watchlist_past_its_limit_is_refused() -> None:
    watchlists.check_size(WatchKind.CERTIFICATE, 99_000, 1_000)
    with pytest.raises(DomainError) as refused:
        watchlists.check_size(WatchKind.CERTIFICATE, 99_000, 1_001)
    assert (refused.value.field, refused.value.rules[0]["rule"]) == ("values", "watchlist_too_large")


# --- retries and disabling -----------------------------------------------------------------------------


def test_retries_back_off_exponentially_with_jitter_up_to_the_cap() -> None:
    policy = RetryPolicy(base_seconds=5, max_seconds=3600, period_seconds=3 * 86400)
    rng = random.Random(7)
    waits = [policy.next_attempt(n, T0, rng).total_seconds() for n in range(1, 16)]
    for n, wait in enumerate(waits, start=1):
        ceiling = min(3600, 5 * 2 ** (n - 1))
        assert ceiling / 10 <= wait <= ceiling
    assert len({round(w, 6) for w in waits}) == len(waits)  # jittered, not in lockstep


def test_a_delivery_is_given_up_after_its_retry_period() -> None:
    policy = RetryPolicy(5, 3600, period_seconds=86400)
    assert not policy.gives_up(T0, T0 + dt.timedelta(hours=23))
    assert policy.gives_up(T0, T0 + dt.timedelta(hours=24))


def test_an_endpoint_is_disabled_only_after_failing_long_and_often() -> None:
    policy = DisablePolicy(after_seconds=3600, after_failures=10)
    assert not policy.disables(50, T0, T0 + dt.timedelta(minutes=59))
    assert not policy.disables(9, T0, T0 + dt.timedelta(hours=2))
    assert policy.disables(10, T0, T0 + dt.timedelta(hours=1))
    assert not policy.disables(0, None, T0)


def test_only_2xx_is_delivered_and_a_redirect_is_a_failure() -> None:
    assert Outcome.of_status(204, 3).ok
    redirect = Outcome.of_status(302, 3)
    assert not redirect.ok and "not followed" in (redirect.error or "")
    assert not Outcome.of_status(500, 3).ok
