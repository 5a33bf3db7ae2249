"""Benchmarks that print numbers (not timed tests): `python -m bench` (`make bench`).

One run starts its own stack in a temporary folder (Redis, a MongoDB-protocol server, a
SQLite file, the Telegram stand-in), measures

1. raw Celery throughput: a 3-step chain of no-op tasks (`bench.noop`),
2. daily-gift workflow throughput with 10,000 distinct members,
3. update → Bot API call latency through the real bot at a steady 50 updates/s,
4. a mixed economy: gifts, purchases, auction bids and reactions at once (bench/economy.py),
   throughput and p99 per workflow type,

profiles what bounds the numbers that miss their target, prints a table and writes it
to `bench/RESULTS.md`. Nothing here is imported by the project; the worker loads the
bench tasks through `bench.celery_app`, which extends the project's Celery app.
"""
