"""The service's web page: sign in with a key, predict, upload a library, browse a screen.

``router`` (included by :func:`api.app.create_app`) serves the pages at ``/``, their static
files (package data under ``api/web/static``, with the JSME molecule editor) and depictions;
see :mod:`api.web.routes`.
"""

from api.web.routes import router

__all__ = ["router"]
