"""The only place that talks to Azure SDKs (azure.mgmt.*, azure.identity, azure.monitor.*) and tenacity."""
