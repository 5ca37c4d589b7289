"""The Function App: builds the Durable Functions app and registers respot's blueprints. No logic lives here."""

import azure.durable_functions as df
import azure.functions as func

from orchestrator.app.health import bp as health_bp

app = df.DFApp(http_auth_level=func.AuthLevel.FUNCTION)
app.register_functions(health_bp)
