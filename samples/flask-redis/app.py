"""The hoist sample: a Flask page that counts its visits in Redis."""

import time

import redis
from flask import Flask

app = Flask(__name__)
cache = redis.Redis(host="db", port=6379)


def get_hit_count():
    """Increment the counter, retrying briefly while Redis is not reachable."""
    retries = 10
    while True:
        try:
            return cache.incr("hits")
        except redis.exceptions.ConnectionError:
            if retries == 0:
                raise
            retries -= 1
            time.sleep(0.5)


@app.route("/")
def hello():
    count = get_hit_count()
    return f"Hello from hoist! I have been seen {count} times.\n"


@app.route("/healthz")
def healthz():
    """Health probe: answers without counting a visit."""
    return "ok\n"


if __name__ == "__main__":
    app.run(host="0.0.0.0", port=5001)
