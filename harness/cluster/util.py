"""Small helpers every database definition and backend shares (no database knowledge here)."""
import os
import pwd
import threading


def chown(path, user):
    pw = pwd.getpwnam(user)
    os.chown(path, pw.pw_uid, pw.pw_gid)


def in_parallel(fns):
    """Run callables in threads; re-raise the first error after all have finished."""
    errors = []

    def wrap(fn):
        try:
            fn()
        except BaseException as e:  # noqa: BLE001 - re-raised below
            errors.append(e)

    threads = [threading.Thread(target=wrap, args=(fn,), daemon=True) for fn in fns]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    if errors:
        raise errors[0]


def scalar(conn, sql, params=()):
    """The first column of the first row of a DB-API query; None when it returns no row."""
    with conn.cursor() as cur:
        cur.execute(sql, params)
        row = cur.fetchone()
        return row[0] if row else None
