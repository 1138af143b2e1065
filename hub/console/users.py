"""Console users: create, change and look up; login throttling per user name and address."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from sqlalchemy import delete, func, select

from hub.audit import record as record_audit
from hub.console.passwords import hash_password, verify_password
from hub.store.db import Database
from hub.store.models import ConsoleUser, LoginFailure

ROLES = ("admin", "viewer")
#: At most this many refused logins per user name and address within the window.
MAX_FAILURES = 5
FAILURE_WINDOW = timedelta(minutes=15)
# Compared against when the user does not exist, so an unknown name costs as much as a wrong
# password (no timing oracle for which names exist).
_DUMMY_HASH = "scrypt$32768$8$1$AAAAAAAAAAAAAAAAAAAAAA==$AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA="


@dataclass(frozen=True)
class User:
    name: str
    role: str
    password_hash: str

    @property
    def is_admin(self) -> bool:
        return self.role == "admin"


class LoginThrottled(Exception):
    """Too many refused logins for this name from this address; try again later."""


def save_user(db: Database, name: str, role: str, password: str, actor: str) -> bool:
    """Create the user or set a new password and role; True when it was created."""
    if role not in ROLES:
        raise ValueError(f"role must be one of {', '.join(ROLES)}")
    if not name or len(name) > 64 or not name.replace("-", "").replace("_", "").replace(".", "").isalnum():
        raise ValueError("a user name is 1-64 letters, digits, '.', '-' or '_'")
    hashed = hash_password(password)
    now = datetime.now(UTC)
    with db.session() as session:
        row = session.get(ConsoleUser, name)
        created = row is None
        if row is None:
            session.add(
                ConsoleUser(name=name, role=role, password_hash=hashed, created_at=now, updated_at=now)
            )
        else:
            row.role, row.password_hash, row.updated_at = role, hashed, now
        action = "user_added" if created else "user_changed"
        record_audit(session, actor, action, {"role": role}, target=name, at=now)
    return created


def get_user(db: Database, name: str) -> User | None:
    with db.read_session() as session:
        row = session.get(ConsoleUser, name)
        return User(row.name, row.role, row.password_hash) if row else None


def list_users(db: Database) -> list[User]:
    with db.read_session() as session:
        rows = session.scalars(select(ConsoleUser).order_by(ConsoleUser.name))
        return [User(r.name, r.role, r.password_hash) for r in rows]


def authenticate(db: Database, name: str, password: str, address: str) -> User | None:
    """The user when the password matches; None when not. Raises LoginThrottled after too many
    refusals for this name from this address, before the password is even checked."""
    key = f"{name[:64]}|{address}"
    now = datetime.now(UTC)
    with db.session() as session:
        session.execute(delete(LoginFailure).where(LoginFailure.at < now - FAILURE_WINDOW))
        recent = (
            session.scalar(select(func.count()).select_from(LoginFailure).where(LoginFailure.key == key)) or 0
        )
    if recent >= MAX_FAILURES:
        raise LoginThrottled(key)
    user = get_user(db, name)
    ok = verify_password(password, user.password_hash if user else _DUMMY_HASH)
    with db.session() as session:
        if user is None or not ok:
            session.add(LoginFailure(key=key, at=now))
            return None
        session.execute(delete(LoginFailure).where(LoginFailure.key == key))
        record_audit(session, name, "login", {"address": address}, at=now)
    return user
