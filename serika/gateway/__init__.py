"""The request path: authenticate, permit (later: limit, route, meter)."""
