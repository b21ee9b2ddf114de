"""The storage exception tree, and the one place that decides whether a database error is worth retrying."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import asyncpg
from sqlalchemy.exc import DataError, IntegrityError, SQLAlchemyError, StatementError


class StorageError(Exception):
    """Base of every error raised by `storage`."""


class StoreUnavailable(StorageError):
    """The database cannot take writes now (down, unreachable, locked, read-only, not migrated); retry."""


class RecordsRejected(StorageError):
    """The database (or the encoder) refused the records themselves; retrying them cannot succeed."""


class SpoolError(StorageError):
    """The on-disk spool cannot be used (directory not writable, or locked by another process)."""


class NotFound(StorageError, LookupError):
    """The requested reference set or report run does not exist."""


class InvalidReference(StorageError, ValueError):
    """A reference frame or file that cannot be stored; the message names the row or column at fault."""


class InvalidFeedback(StorageError, ValueError):
    """A feedback item that cannot be stored; the message names the item and field at fault."""


class RunStateError(StorageError):
    """A report run cannot move to the requested status (it is no longer `running`)."""


# Driver and encoder errors caught around database calls; anything else is a bug and propagates as it is.
TRANSLATED: tuple[type[BaseException], ...] = (
    SQLAlchemyError,
    OSError,
    TimeoutError,
    asyncpg.PostgresError,
    asyncpg.InterfaceError,
    ValueError,
    TypeError,
    OverflowError,
)

# PostgreSQL SQLSTATE classes caused by the data: 22 data exception, 23 integrity constraint violation.
_DATA_SQLSTATE_CLASSES = frozenset({"22", "23"})


def _describe(exc: BaseException) -> str:
    """Class name plus the first line of the message, bounded; driver messages about data stay out."""
    first_line = str(exc).strip().splitlines()[0] if str(exc).strip() else ""
    return f"{type(exc).__name__}: {first_line[:200]}" if first_line else type(exc).__name__


def translate(exc: BaseException) -> StorageError:
    """Map a driver, SQLAlchemy or encoder error to StoreUnavailable (retry) or RecordsRejected (don't)."""
    cause: BaseException = exc
    if isinstance(exc, StatementError) and isinstance(exc.orig, BaseException):
        cause = exc.orig
    sqlstate = getattr(cause, "sqlstate", None) or getattr(cause.__cause__, "sqlstate", None)
    rejected = (
        isinstance(exc, (DataError, IntegrityError))
        or isinstance(cause, (ValueError, TypeError, OverflowError))
        or (isinstance(sqlstate, str) and sqlstate[:2] in _DATA_SQLSTATE_CLASSES)
    )
    if rejected:
        # Messages of data errors may quote the offending values, so only the class and SQLSTATE are kept.
        suffix = f" (sqlstate {sqlstate})" if isinstance(sqlstate, str) else ""
        return RecordsRejected(f"{type(cause).__name__}{suffix}")
    return StoreUnavailable(_describe(cause))


@contextmanager
def translated() -> Iterator[None]:
    """Turn driver and encoder errors raised in the block into `translate`d storage errors.

    Storage errors pass through as they are (some, like `InvalidReference`, are also ValueErrors).
    """
    try:
        yield
    except StorageError:
        raise
    except TRANSLATED as exc:
        raise translate(exc) from exc
