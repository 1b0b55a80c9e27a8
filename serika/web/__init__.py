"""HTTP: routers for /api/..., operations endpoints, middleware."""
