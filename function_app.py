"""The Function App: validates settings, builds the Durable Functions app and registers respot's blueprints.

No logic lives here. A bad setting stops the app at start with a message naming it (orchestrator.settings), and so does
a bad fleets file (orchestrator.domain.fleet).
"""

import azure.durable_functions as df
import azure.functions as func

from orchestrator.app import compose
from orchestrator.app.dashboard import bp as dashboard_bp
from orchestrator.app.entities import bp as entities_bp
from orchestrator.app.health import bp as health_bp
from orchestrator.app.intake import bp as intake_bp
from orchestrator.app.recovery import bp as recovery_bp
from orchestrator.app.returns import bp as returns_bp
from orchestrator.app.sweep import bp as sweep_bp
from orchestrator.settings import get_settings

get_settings()
compose.fleets()  # a bad fleets file stops the app here, naming the profile and field
compose.configure_logging()

app = df.DFApp(http_auth_level=func.AuthLevel.FUNCTION)
app.register_functions(health_bp)
app.register_functions(intake_bp)
app.register_functions(recovery_bp)
app.register_functions(entities_bp)
app.register_functions(sweep_bp)
app.register_functions(returns_bp)
app.register_functions(dashboard_bp)
