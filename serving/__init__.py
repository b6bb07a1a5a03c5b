"""The HTTP gateway: a Litestar app built by :func:`serving.app.create_app`.

Routes parse (strict msgspec wire schemas), delegate (to an injected scorer, record store and
readiness checker) and present (msgspec Structs, RFC 9457 problem details for every error).
Nothing here does I/O at import time; everything the app needs is injected.
"""
