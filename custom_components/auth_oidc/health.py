"""Track one provider's health: log changes once, raise and clear repair issues, count outcomes.

Repair issues (translated in strings.json `issues`, explained in docs/troubleshooting.md):
- `provider_unreachable_<entry>`: the provider failed `UNREACHABLE_AFTER` attempts in a row;
  cleared by the next success. Logged once when it starts failing and once on recovery.
- `client_rejected_<entry>`: the token endpoint answered `invalid_client`; its fix flow starts
  the reauthentication flow (new client secret, or public client).
- `discovery_incompatible_<entry>`: the provider's discovery document changed so that this
  configuration cannot log in any more (issuer, algorithms, PKCE, client authentication).
- `clock_skew_<entry>`: an ID token's `iat` differs from this clock by more than
  `CLOCK_SKEW_WARNING` seconds; cleared by a login without skew.
- `callback_http_<entry>`: the callback URL uses http although the browser reached Home
  Assistant over https through a proxy that Home Assistant does not trust.
"""

import logging
import time
from collections import Counter
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Final

from homeassistant.core import HomeAssistant
from homeassistant.helpers import issue_registry as ir

from .const import DOMAIN, issue_id
from .oidc import ErrorCode, is_provider_unavailable

_LOGGER = logging.getLogger(__name__)

# Failed attempts in a row before the "unreachable" repair appears; failures closer together
# than FAILURE_DEDUP_SECONDS count once (the core remembers a failed discovery that long).
UNREACHABLE_AFTER: Final = 3
FAILURE_DEDUP_SECONDS: Final = 5.0
# Below the core's 60 s validation leeway: warn before logins start failing.
CLOCK_SKEW_WARNING: Final = 30.0

INCOMPATIBLE_DISCOVERY_CODES: Final = frozenset(
    {
        ErrorCode.DISCOVERY_INVALID,
        ErrorCode.DISCOVERY_ISSUER_MISMATCH,
        ErrorCode.DISCOVERY_INSECURE_ENDPOINT,
        ErrorCode.DISCOVERY_NO_CODE_FLOW,
        ErrorCode.DISCOVERY_NO_S256,
        ErrorCode.DISCOVERY_NO_USABLE_ALG,
        ErrorCode.DISCOVERY_NO_AUTH_METHOD,
    }
)
# Login outcomes are counted by reason; anything else is counted as "other" (bounded).
MAX_OUTCOME_REASONS: Final = 32
# Distinct callback URLs of completed logins remembered for diagnostics.
MAX_CALLBACK_URLS: Final = 8


@dataclass(slots=True)
class ProviderHealth:
    """Health of one configured provider while its config entry is loaded."""

    hass: HomeAssistant
    entry_id: str
    name: str
    clock: Callable[[], float] = time.time
    consecutive_failures: int = 0
    last_failure_code: str | None = None
    last_failure_at: float | None = None
    last_success_at: float | None = None
    last_login_at: float | None = None
    clock_skew: float | None = None
    outcomes: Counter[str] = field(default_factory=Counter)
    callback_urls: set[str] = field(default_factory=set)

    @property
    def available(self) -> bool:
        """Return whether the last contact with the provider worked (or none failed yet)."""
        return self.consecutive_failures == 0

    def issue_id(self, kind: str) -> str:
        """Return the repair issue id of `kind` for this entry."""
        return issue_id(kind, self.entry_id)

    def record_reachable(self) -> None:
        """Note a successful contact with the provider; clear what it disproves."""
        if self.consecutive_failures:
            _LOGGER.info("OpenID provider %s is reachable again", self.name)
        self.consecutive_failures = 0
        self.last_success_at = self.clock()
        self._delete_issue("provider_unreachable")
        self._delete_issue("discovery_incompatible")

    def record_failure(self, code: ErrorCode, provider_error: str | None = None) -> None:
        """Note a failed contact with the provider and raise what an admin can act on."""
        now = self.clock()
        if code == ErrorCode.TOKEN_REQUEST_FAILED and provider_error == "invalid_client":
            # RFC 6749 §5.2: the provider does not accept this client's credentials.
            self._create_issue("client_rejected", fixable=True)
            if (entry := self.hass.config_entries.async_get_entry(self.entry_id)) is not None:
                entry.async_start_reauth(self.hass)
            return
        if code in INCOMPATIBLE_DISCOVERY_CODES:
            self._create_issue("discovery_incompatible", placeholders={"code": code})
            return
        if not is_provider_unavailable(code, provider_error):
            return
        if self.last_failure_at is not None and now - self.last_failure_at < FAILURE_DEDUP_SECONDS:
            return
        if self.consecutive_failures == 0:
            # Quality scale rule log-when-unavailable: once when it goes, once when it is back.
            _LOGGER.warning(
                "OpenID provider %s is unavailable (%s); Home Assistant's own login still works",
                self.name,
                code,
            )
        self.consecutive_failures += 1
        self.last_failure_code, self.last_failure_at = code, now
        if self.consecutive_failures >= UNREACHABLE_AFTER:
            self._create_issue("provider_unreachable", placeholders={"code": code})

    def record_id_token_time(self, issued_at: object) -> None:
        """Compare an ID token's `iat` with this clock; warn before a skew breaks logins."""
        if isinstance(issued_at, bool) or not isinstance(issued_at, int | float):
            return
        skew = float(issued_at) - self.clock()
        self.clock_skew = skew
        if abs(skew) > CLOCK_SKEW_WARNING:
            self._create_issue("clock_skew", placeholders={"seconds": f"{skew:+.0f}"})
        else:
            self._delete_issue("clock_skew")

    def record_callback_url(self, callback_url: str, forwarded_proto: str | None) -> None:
        """Warn when a proxy says https but a completed login's callback URL was http.

        Called only after the provider authenticated the user, so unauthenticated requests
        cannot raise the issue or choose the URL it shows.
        """
        if len(self.callback_urls) < MAX_CALLBACK_URLS:
            self.callback_urls.add(callback_url)
        if callback_url.startswith("http://") and (forwarded_proto or "").lower() == "https":
            self._create_issue("callback_http", placeholders={"callback_url": callback_url})
        elif callback_url.startswith("https://"):
            self._delete_issue("callback_http")

    def record_outcome(self, reason: str) -> None:
        """Count a finished login attempt by its outcome (no names, no addresses)."""
        if reason not in self.outcomes and len(self.outcomes) >= MAX_OUTCOME_REASONS:
            reason = "other"
        self.outcomes[reason] += 1
        if reason == "success":
            self.last_login_at = self.clock()

    def summary(self) -> dict[str, object]:
        """Return the health figures for diagnostics (no secrets, names or addresses)."""
        return {
            "available": self.available,
            "consecutive_failures": self.consecutive_failures,
            "last_failure_code": self.last_failure_code,
            "last_failure": _iso(self.last_failure_at),
            "last_contact_ok": _iso(self.last_success_at),
            "last_successful_login": _iso(self.last_login_at),
            "clock_skew_seconds": None if self.clock_skew is None else round(self.clock_skew),
            "login_outcomes": dict(sorted(self.outcomes.items())),
        }

    def _create_issue(
        self, kind: str, *, fixable: bool = False, placeholders: Mapping[str, str] | None = None
    ) -> None:
        ir.async_create_issue(
            self.hass,
            DOMAIN,
            self.issue_id(kind),
            is_fixable=fixable,
            is_persistent=False,
            severity=ir.IssueSeverity.ERROR,
            translation_key=kind,
            translation_placeholders={"name": self.name, **(placeholders or {})},
            data={"entry_id": self.entry_id},
        )

    def _delete_issue(self, kind: str) -> None:
        delete_issue(self.hass, kind, self.entry_id)


def delete_issue(hass: HomeAssistant, kind: str, entry_id: str | None = None) -> None:
    """Delete a repair issue that no longer applies."""
    ir.async_delete_issue(hass, DOMAIN, issue_id(kind, entry_id))


def _iso(timestamp: float | None) -> str | None:
    """Return a timestamp as an ISO 8601 UTC string."""
    if timestamp is None:
        return None
    return datetime.fromtimestamp(timestamp, UTC).isoformat(timespec="seconds")


def create_yaml_ignored_issue(hass: HomeAssistant, issuer: str) -> None:
    """Tell the admin that the YAML block is ignored because the UI has the same provider."""
    ir.async_create_issue(
        hass,
        DOMAIN,
        "yaml_ignored",
        is_fixable=False,
        severity=ir.IssueSeverity.WARNING,
        translation_key="yaml_ignored",
        translation_placeholders={"issuer": issuer},
    )


def create_internals_changed_issue(hass: HomeAssistant, detail: str) -> None:
    """Tell the admin that SSO is off because Home Assistant's internals changed."""
    ir.async_create_issue(
        hass,
        DOMAIN,
        "internals_changed",
        is_fixable=False,
        severity=ir.IssueSeverity.ERROR,
        translation_key="internals_changed",
        translation_placeholders={"detail": detail},
    )
