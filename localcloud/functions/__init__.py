"""A local Azure Functions host: runs ``function_app.py`` through the real azure-functions and
azure-functions-durable packages, with SQLite persistence (see docs/localcloud-functions.md).

- ``appmodel``: load the app the way the Python worker indexes it, and refuse what this host cannot run;
- ``store``: instances, histories, inboxes and pending work in SQLite;
- ``engine``: the Durable Task side (episodes, activities, timers, sub-orchestrations, retries, events, starts);
- ``entities`` and ``entitywire``: durable entities (the entity scheduler, and the extension's message shapes);
- ``dispatch``: the threads that run episodes and activities, and see the shared clock move;
- ``httphost``: HTTP triggers, keys, and the Durable Functions HTTP management API (``management``, ``entityapi``);
- ``timers`` and ``ncrontab``: timer triggers;
- ``host``: one object that wires it all, sharing a ``localcloud.clock.Clock`` with the ARM emulator;
- ``firstrun``: the command line's defaults when the app has no local.settings.json yet.
"""
