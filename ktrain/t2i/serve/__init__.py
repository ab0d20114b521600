"""``kcli serve``: a web demo of Korean prompt → image, with LoRAs, a bounded queue and per-stage timings.

Why FastAPI + uvicorn rather than gradio: the demo needs exactly one JSON endpoint, a static page and an
admission rule of our own (a bounded queue that answers 503 with ``Retry-After`` instead of letting work
pile up), and each of those is a few lines on FastAPI/Starlette, an established ASGI stack with pydantic
request parsing. Gradio brings its own queue whose overflow behaviour, message texts and page markup we
would have to work around, plus a large dependency tree (and a front-end build) for one form; a small
static HTML/JS page is easier to test with a real browser and to keep stable.

``limits`` (request parsing and the limits a request must keep, with the messages a user reads),
``engine`` (the model, loaded once, and one generation), ``queue`` (admission: how many may wait),
``suggest`` (prompt suggestions from ``--prompt-index``), ``app`` (the FastAPI application), ``server``
(binding the socket and running uvicorn), ``static/`` (the page).
"""
