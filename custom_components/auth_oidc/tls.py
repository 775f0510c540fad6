"""Build the TLS context for requests to a provider whose certificate a private CA signed."""

import ssl

from homeassistant.util.ssl import create_client_context


def load_ca_context(ca_path: str) -> ssl.SSLContext:
    """Return a new client SSL context that also trusts the CA bundle at `ca_path` (blocking)."""
    # A context of its own: Home Assistant's cached client_context() is shared process-wide.
    context = create_client_context()
    context.load_verify_locations(ca_path)
    return context
