"""The providers' refresh tokens kept for re-checking access, encrypted at rest.

Each token is sealed with AES-256-GCM under a key kept in a Store file of its own; the
associated data binds a ciphertext to its provider and subject, so a sealed token copied to
another user's slot does not open. Tokens never leave this module except to the token
endpoint: not in a log, an event or diagnostics.
"""

import asyncio
import base64
import binascii
import os
import time
from dataclasses import dataclass
from typing import Final, TypedDict

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from homeassistant.core import HomeAssistant
from homeassistant.helpers.storage import Store
from homeassistant.util.hass_dict import HassKey

from .const import DOMAIN

STORAGE_VERSION: Final = 1
KEY_STORAGE_KEY: Final = f"{DOMAIN}.token_key"
TOKENS_STORAGE_KEY: Final = f"{DOMAIN}.provider_tokens"
NONCE_BYTES: Final = 12  # NIST SP 800-38D §8.2: 96-bit random nonces
SAVE_DELAY: Final = 1.0

DATA_TOKEN_STORE: HassKey[ProviderTokenStore] = HassKey(f"{DOMAIN}_provider_tokens")


class _KeyFile(TypedDict):
    key: str


class _Sealed(TypedDict):
    token: str
    checked_at: float


type _TokensFile = dict[str, dict[str, _Sealed]]


@dataclass(frozen=True, slots=True)
class KeptLogin:
    """A user whose provider refresh token is kept, and when access was last confirmed."""

    subject: str
    checked_at: float


class ProviderTokenStore:
    """Refresh tokens per config entry and subject; one instance per Home Assistant."""

    def __init__(self, hass: HomeAssistant) -> None:
        """Create the store; the files are read on first use."""
        self._key_store: Store[_KeyFile] = Store(
            hass, STORAGE_VERSION, KEY_STORAGE_KEY, private=True, atomic_writes=True
        )
        self._store: Store[_TokensFile] = Store(
            hass, STORAGE_VERSION, TOKENS_STORAGE_KEY, private=True, atomic_writes=True
        )
        self._lock = asyncio.Lock()
        self._loaded = False
        self._dirty = False
        self._cipher: AESGCM | None = None
        self._data: _TokensFile = {}

    async def _async_loaded(self) -> None:
        """Read the key (if one was made) and the sealed tokens once."""
        async with self._lock:
            if not self._loaded:
                key_file = await self._key_store.async_load()
                if key_file is not None:
                    self._cipher = AESGCM(_unb64(key_file["key"]))
                self._data = await self._store.async_load() or {}
                self._loaded = True

    async def _async_cipher(self) -> AESGCM:
        """Return the cipher, making and saving the key the first time a token is kept."""
        await self._async_loaded()
        async with self._lock:
            if self._cipher is None:
                key = AESGCM.generate_key(bit_length=256)
                await self._key_store.async_save({"key": _b64(key)})
                self._cipher = AESGCM(key)
            return self._cipher

    async def async_keep(self, entry_id: str, subject: str, refresh_token: str) -> None:
        """Seal and keep `subject`'s refresh token (saved within a second, or by a flush)."""
        cipher = await self._async_cipher()
        nonce = os.urandom(NONCE_BYTES)
        sealed = cipher.encrypt(nonce, refresh_token.encode(), _slot(entry_id, subject))
        self._data.setdefault(entry_id, {})[subject] = {
            "token": _b64(nonce + sealed),
            "checked_at": time.time(),
        }
        await self._async_save()

    async def async_token(self, entry_id: str, subject: str) -> str | None:
        """Return `subject`'s refresh token, or None when none is kept or it does not open."""
        await self._async_loaded()
        if (kept := self._data.get(entry_id, {}).get(subject)) is None:
            return None
        opened = None
        if self._cipher is not None:
            opened = _open(self._cipher, kept["token"], _slot(entry_id, subject))
        if opened is None:
            # No key or another key (its file was replaced or lost), or a damaged file.
            await self.async_forget(entry_id, subject)
        return opened

    async def async_logins(self, entry_id: str) -> list[KeptLogin]:
        """Return the kept logins of a provider, least recently confirmed first."""
        await self._async_loaded()
        kept = self._data.get(entry_id, {})
        logins = [KeptLogin(subject, item["checked_at"]) for subject, item in kept.items()]
        return sorted(logins, key=lambda login: login.checked_at)

    async def async_mark_checked(self, entry_id: str, subject: str) -> None:
        """Note that `subject`'s access was just re-checked."""
        await self._async_loaded()
        if (kept := self._data.get(entry_id, {}).get(subject)) is not None:
            kept["checked_at"] = time.time()
            await self._async_save()

    async def async_forget(self, entry_id: str, subject: str) -> None:
        """Drop `subject`'s refresh token."""
        await self._async_loaded()
        if self._data.get(entry_id, {}).pop(subject, None) is not None:
            if not self._data[entry_id]:
                del self._data[entry_id]
            await self._async_save(save_now=True)

    async def async_forget_entry(self, entry_id: str) -> None:
        """Drop every refresh token of a provider."""
        await self._async_loaded()
        if self._data.pop(entry_id, None) is not None:
            await self._async_save(save_now=True)

    def count(self, entry_id: str) -> int:
        """Return how many logins of a provider have a kept token (0 before first use)."""
        return len(self._data.get(entry_id, {}))

    async def async_flush(self) -> None:
        """Write pending changes now (e.g. rotated tokens, whose old values are spent)."""
        if self._dirty:
            await self._async_save(save_now=True)

    async def _async_save(self, *, save_now: bool = False) -> None:
        if save_now:
            self._dirty = False
            await self._store.async_save(self._data)
        else:
            self._dirty = True
            self._store.async_delay_save(self._data_to_save, SAVE_DELAY)

    def _data_to_save(self) -> _TokensFile:
        self._dirty = False
        return self._data


def provider_token_store(hass: HomeAssistant) -> ProviderTokenStore:
    """Return the token store of this Home Assistant, creating it on first use."""
    if (store := hass.data.get(DATA_TOKEN_STORE)) is None:
        store = hass.data[DATA_TOKEN_STORE] = ProviderTokenStore(hass)
    return store


def _open(cipher: AESGCM, sealed: str, slot: bytes) -> str | None:
    """Return the token sealed in `sealed` for `slot`, or None when it does not open."""
    try:
        raw = _unb64(sealed)
        return cipher.decrypt(raw[:NONCE_BYTES], raw[NONCE_BYTES:], slot).decode()
    except InvalidTag, ValueError, binascii.Error:
        return None


def _slot(entry_id: str, subject: str) -> bytes:
    """Return the associated data that ties a sealed token to its provider and subject."""
    return f"{entry_id}\x00{subject}".encode()


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


def _unb64(text: str) -> bytes:
    return base64.b64decode(text, validate=True)
