"""End-to-end tests: real hass, real OpenID Provider, real browser."""
