"""The policy benchmark's simulator: availability traces replayed through respot's real ranking and walk.

- ``traces``: load a directory of trace files and map each file to an Azure offering (size, region, zone);
- ``prices``: spot prices per tick (a price-history CSV, the trace's own ``prices``, or a default) and Regular prices;
- ``world``: one trace set on a simulated clock: availability, evictions, a create's outcome, accounting;
- ``signals``: what respot may know at a moment, from the past only (eviction-rate buckets, placement scores);
- ``respot``: respot's ``candidates`` + ``rank`` + ``Walk`` + restart ``Backoff`` on that clock;
- ``baselines`` and ``oracle``: the policies respot is measured against;
- ``synth``: seeded synthetic trace sets; ``experiments``: labelled variants of respot's scoring (never the product).

See docs/benchmarks.md for the model and its assumptions.
"""
