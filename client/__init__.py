"""The Python client of Vigil's HTTP API (httpx): scoring, readiness and the admin routes.

Used by the CLI, the web app and the benchmarks; it imports only ``core`` of our packages.
"""
