"""HTTP routes, one module per resource; :func:`api.app.create_app` includes them all."""

from api.routes import health, models, molecules, predictions, screens

ROUTERS = [health.router, predictions.router, screens.router, molecules.router, models.router]

__all__ = ["ROUTERS"]
