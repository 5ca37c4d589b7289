"""A local Azure Resource Manager emulator for the operations respot uses.

It speaks ARM's wire format on loopback so the real azure-mgmt-compute and azure-monitor-query clients work
unmodified, and simulates what matters for Spot: capacity that comes and goes, prices, quotas, evictions under
both eviction policies, Activity Log records and the alerts they raise, throttling, and injected faults.

Modules follow moto's roles: ``urls`` (routes), ``responses`` (Compute's HTTP handlers), one module per data
service (``resourceskus``, ``retailprices``, ``placement``, ``resourcegraph``, ``loganalytics``, ``imds``,
``insights`` for autoscale settings), ``models`` (resources), ``backend`` (state and scheduler),
``compute``/``scalesets``/``members``/``disks``/``network``/``evictions``/``restore``/``capacity`` and
``autoscale``/``autoscaleengine`` (behaviour), ``errors`` (the ARM envelope), ``control`` (the /_localcloud
API), ``scenario`` (worlds from JSON).
"""

from localcloud.arm.server import ArmEmulator

__all__ = ["ArmEmulator"]
