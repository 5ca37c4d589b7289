"""respot: keeps Azure Spot VM capacity alive (see ../README.md and docs/architecture.md).

Layers (enforced by import-linter, see pyproject.toml): ``domain`` is pure; ``adapters`` alone imports the
Azure SDKs and tenacity; ``app`` alone imports the Functions packages; nothing here imports ``localcloud``
except ``cli``, the composition root for local runs.
"""

__version__ = "0.1.0"
