"""The token-protected HTTP API (/api/...): journey and analytics routes, their OpenAPI contract and request parsing."""
