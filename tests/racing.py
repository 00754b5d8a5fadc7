"""Real processes racing through the API, each with its own app and database connection:
the helpers the concurrency tests share. Run against the suite's backend (SQLite file or
PostgreSQL, where the races are real), on a fresh database per test."""

import multiprocessing
import os
import queue
import time

import sqlalchemy as sa

PASSWORD = "Correct-Horse-42"  # tests.factories.PASSWORD


def make_app(url: str, instance: str):
    os.environ["TIMEBANK_INSTANCE_PATH"] = instance
    from timebank import create_app

    return create_app("testing", {"SQLALCHEMY_DATABASE_URI": url})


def dispose(app) -> None:
    from timebank.extensions import db

    with app.app_context():
        db.engine.dispose()


def client_worker(url, instance, login, plan, barrier, results):
    """Log in, then make each request of the plan as the others make theirs (barrier).

    A plan step is (method, path, body) or (method, path, body, headers). "name#2" logs
    in as "name": several processes acting as one person.
    """
    app = make_app(url, instance)
    answers = []
    try:
        client = app.test_client()
        account = login.partition("#")[0]
        issued = client.post("/api/v1/auth/tokens", json={"login": account, "password": PASSWORD})
        headers = {"Authorization": f"Bearer {issued.json['token']}"}
        for method, path, body, *extra in plan:
            barrier.wait(timeout=60)
            sent = {**headers, **(extra[0] if extra else {})}
            response = client.open(path, method=method, json=body, headers=sent)
            answers.append((response.status_code, response.get_json()))
        results.put((login, answers, None))
    except Exception as exc:  # reported to the parent, which fails the test
        barrier.abort()
        results.put((login, answers, repr(exc)))
    finally:
        dispose(app)


def race(url: str, instance: str, plans: dict[str, list]) -> dict[str, list]:
    """Run each login's plan in its own process, round by round; their answers by login."""
    spawn = multiprocessing.get_context("spawn")
    barrier, results = spawn.Barrier(len(plans)), spawn.Queue()
    workers = [
        spawn.Process(target=client_worker, args=(url, instance, login, plan, barrier, results))
        for login, plan in plans.items()
    ]
    for worker in workers:
        worker.start()
    outcomes = []
    try:
        deadline = time.monotonic() + 300
        while len(outcomes) < len(workers):
            try:
                outcomes.append(results.get(timeout=1))
            except queue.Empty:
                # A worker that died before answering would otherwise be waited for in vain.
                dead = [w.exitcode for w in workers if not w.is_alive() and w.exitcode != 0]
                assert not dead, f"a worker died with exit code {dead[0]}"
                assert time.monotonic() < deadline, "the workers did not finish in time"
    finally:
        for worker in workers:
            worker.join(timeout=60)
            if worker.is_alive():  # pragma: no cover - only when a worker hangs
                worker.kill()
    assert [(login, error) for login, _, error in outcomes if error] == []
    return {login: answers for login, answers, _ in outcomes}


def scalar(url: str, sql: str, **params):
    engine = sa.create_engine(url)
    try:
        with engine.connect() as conn:
            return conn.execute(sa.text(sql), params).scalar()
    finally:
        engine.dispose()


def rows(url: str, sql: str, **params) -> list:
    engine = sa.create_engine(url)
    try:
        with engine.connect() as conn:
            return [tuple(row) for row in conn.execute(sa.text(sql), params)]
    finally:
        engine.dispose()


def assert_ledger_verifies(url: str, instance: str) -> None:
    """`flask ledger verify` passes: balances equal their entries, the hash chains hold."""
    app = make_app(url, instance)
    try:
        verified = app.test_cli_runner().invoke(args=["ledger", "verify"])
        assert verified.exit_code == 0, verified.output
    finally:
        dispose(app)
