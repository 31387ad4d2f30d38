"""`hotline serve`: the IVR servers (asyncio) and the admin panel (waitress, in a thread) in one process.

SIGINT/SIGTERM set one stop event: the IVR closes its listeners and finishes every open call row, then the admin
server closes. Nothing is left half-written.
"""

from __future__ import annotations

import asyncio
import logging
import signal
import threading

from hotline.config import Settings

log = logging.getLogger("cli.serve")


def _start_admin(settings: Settings):  # -> waitress server
    from waitress import create_server

    from admin import create_app
    from admin.rollup import start_background_rollup
    from ivr.ami import QueueMembers

    app = create_app(settings)
    # The console's log in / pause / log out buttons (admin may not import ivr, so it is handed in here).
    app.extensions["queue_members"] = QueueMembers(settings.ami_host, settings.ami_port, settings.ami_user,
                                                   settings.ami_secret, settings.queue_name)
    start_background_rollup(settings)  # stores finished dashboard days so the first dashboard view is warm
    # Each open agent console / web call transcript holds a thread for its event stream (at most 24, see
    # admin/views/agent_events.py), so pages keep 8 threads of their own.
    server = create_server(app, host=settings.admin_host, port=settings.admin_port, threads=32, ident="hotline")
    thread = threading.Thread(target=server.run, name="admin-http", daemon=True)
    thread.start()
    print(f"admin panel     http://{settings.admin_host}:{server.effective_port}/", flush=True)
    return server


async def _main(settings: Settings, with_admin: bool, with_ivr: bool) -> None:
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    admin_server = _start_admin(settings) if with_admin else None
    try:
        if with_ivr:
            from ivr.runtime import run

            await run(settings, stop)
        else:
            await stop.wait()
    finally:
        if admin_server is not None:
            admin_server.close()
        log.info("stopped")


def serve(settings: Settings, *, with_admin: bool = True, with_ivr: bool = True) -> int:
    asyncio.run(_main(settings, with_admin, with_ivr))
    return 0
